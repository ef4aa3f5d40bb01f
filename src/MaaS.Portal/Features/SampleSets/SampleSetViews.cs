namespace MaaS.Portal.Features.SampleSets;

/// <summary>A sample set as the API and the UI show it.</summary>
public sealed record SampleSetView(
    Guid Id, string Name, string Kind, string OwnerId, Guid? ModelId, string? ModelSlug, int SampleCount,
    string FileName, long SizeBytes, string Sha256, bool HasVocabulary, string? Normalization, DateTimeOffset CreatedAt);

/// <summary>The first few samples of a set, for people to check it is what they meant to upload.</summary>
public sealed record SampleSetPreview(SampleSetView Set, IReadOnlyList<SamplePreview> Samples);

/// <summary>
/// One sample: an image (its entry name, size and a small PNG as a data: URL), a line of text (with its token count
/// when the set has a vocabulary), or a JSON sample's tensors.
/// </summary>
public sealed record SamplePreview(
    int Number, string Label, string? ImageDataUrl = null, int? Width = null, int? Height = null,
    string? Text = null, int? TokenCount = null, IReadOnlyList<TensorPreview>? Tensors = null, string? Problem = null);

public sealed record TensorPreview(string Name, string Datatype, IReadOnlyList<long> Shape, string FirstValues);

/// <summary>Fields of an upload besides the file; all untrusted text.</summary>
public sealed record SampleSetUpload(string? Name = null, string? Kind = null, string? ModelIdOrSlug = null, string? Normalization = null);

/// <summary>The sample set or its upload cannot be used; the message is a sentence for people.</summary>
public sealed class SampleSetException(string message) : Exception(message);

/// <summary>An upload refused before its content is looked at: a bad field (400), an unknown model (404), too large (413).</summary>
public sealed class SampleSetUploadException(int statusCode, string title, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
    public string Title { get; } = title;
}

/// <summary>A file received under tmp/, hashed on the way in; deleted on dispose unless it was moved into the blob store.</summary>
public sealed record ReceivedSampleFile(string TempPath, string Sha256, long Length, string ClientFileName) : IDisposable
{
    public void Dispose() => File.Delete(TempPath);
}
