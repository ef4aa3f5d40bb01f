using System.Text.Json;
using System.Text.Json.Serialization;

namespace MaaS.Onnx.Models;

/// <summary>How a <see cref="ProbeReport"/> crosses the process boundary: web defaults (camelCase), enums as strings.</summary>
public static class ProbeJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}
