using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MaaS.Onnx.Testing;
using MaaS.Portal.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

/// <summary>Request bodies for model uploads, a deployed test model, and what a test reads back about the data folder.</summary>
internal static class ModelUploads
{
    public static MultipartFormDataContent Form(byte[] file, string fileName = "model.onnx", string? name = null,
        string? tags = null, string? labels = null, string? description = null)
    {
        var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(file);
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(part, "file", fileName);
        if (name is not null) form.Add(new StringContent(name), "name");
        if (tags is not null) form.Add(new StringContent(tags), "tags");
        if (labels is not null) form.Add(new StringContent(labels), "labels");
        if (description is not null) form.Add(new StringContent(description), "description");
        return form;
    }

    public static ByteArrayContent Raw(byte[] file)
    {
        var content = new ByteArrayContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    public static byte[] Zip(params (string Name, byte[] Bytes)[] entries)
    {
        var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in entries)
            {
                using var stream = zip.CreateEntry(name).Open();
                stream.Write(bytes);
            }
        }
        return buffer.ToArray();
    }

    public static byte[] ExternalWeightBytes()
    {
        var folder = Directory.CreateTempSubdirectory("maas-weights").FullName;
        try
        {
            return File.ReadAllBytes(TestModels.WriteExternalData(folder, "weights.bin"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Uploads the test MLP as a new model and deploys it as <paramref name="name"/>, waiting for the deploy job to succeed.</summary>
    public static async Task DeployMlpAsync(HttpClient client, string name, object? settings = null, string? modelName = null)
    {
        var upload = await client.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp()), "model.onnx", name: modelName ?? name));
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        var slug = (await upload.JsonAsync()).GetProperty("model").GetProperty("slug").GetString();
        var created = await client.PostAsJsonAsync("/api/deployments", new { name, modelId = slug, version = 1, settings });
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        var jobId = (await created.JsonAsync()).GetProperty("job").GetProperty("id").GetString();
        var job = await Poll.UntilAsync(async () => JsonDocument.Parse(await client.GetStringAsync($"/api/jobs/{jobId}")).RootElement,
            j => j.GetProperty("state").GetString() is "Succeeded" or "Failed" or "Cancelled", TimeSpan.FromSeconds(60));
        Assert.True(job.GetProperty("state").GetString() == "Succeeded", job.GetProperty("message").GetString());
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    /// <summary>Files in tmp/ and blobs/ right now; a rejected upload may add none.</summary>
    public static (string[] Temp, string[] Blobs) DataFiles(this IServiceProvider services)
    {
        var paths = services.GetRequiredService<DataPaths>();
        string[] List(string dir) => Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories) : [];
        return (List(paths.Temp), List(paths.Blobs).Where(File.Exists).ToArray());
    }
}
