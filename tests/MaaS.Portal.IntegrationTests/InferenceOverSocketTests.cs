using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Testing;
using MaaS.Portal.Testing;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// The infer route on the real server over a loopback socket, for what the in-memory test server never sees: HTTP
/// framing is Kestrel's. Its own portal, in its own class: a second portal beside a class's shared one would take over
/// Hangfire's global storage and leave the shared one's jobs without it once disposed.
/// </summary>
public sealed class InferenceOverSocketTests
{
    [Fact]
    public async Task ThousandsOfOneByteChunks_AreReadWhole_AndAnswered()
    {
        await using var portal = new PortalFactory();
        portal.UseKestrel(0);
        portal.StartServer();
        await DeployMlpAsync(portal.CreateApiClient(), "mlp-chunks");
        // 4,000 spaces of padding make a body of over 4,000 one-byte chunks: Triton's CVE-2025-23310 came from many chunks.
        float[] row = [0.5f, -1.25f, 2f, 0.75f];
        var body = Encoding.UTF8.GetBytes("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2, 0.75]}]""" + new string(' ', 4000) + "}");
        var request = new StringBuilder(
            "POST /v2/models/mlp-chunks/infer HTTP/1.1\r\nHost: localhost\r\n" +
            $"Authorization: Bearer {PortalFactory.AdminApiKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        foreach (var b in body) request.Append("1\r\n").Append((char)b).Append("\r\n");
        request.Append("0\r\n\r\n");

        var address = portal.ClientOptions.BaseAddress;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        await using var stream = tcp.GetStream();
        // In several writes with pauses, so the server reads the body in pieces, as it arrives from a slow client.
        var bytes = Encoding.ASCII.GetBytes(request.ToString());
        var part = bytes.Length / 4 + 1;
        for (var offset = 0; offset < bytes.Length; offset += part)
        {
            await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(part, bytes.Length - offset)));
            await stream.FlushAsync();
            await Task.Delay(50);
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 200", response);
        var json = JsonDocument.Parse(response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
        var output = json.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(DeploymentsApiTests.RunDirectly(TestModels.Mlp(), row), output);
    }
}
