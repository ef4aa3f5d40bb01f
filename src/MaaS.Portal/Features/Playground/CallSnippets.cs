using System.Text;

namespace MaaS.Portal.Features.Playground;

/// <summary>A snippet in one language: the code, and whether it reads the body from request.json.</summary>
public sealed record CallSnippet(string Language, string Code);

/// <summary>
/// The request the form made, as curl, Python (requests) and C# (HttpClient) code: the same bytes to the same V2 URL,
/// the key as a placeholder. A body over <see cref="MaxInlineBytes"/> (an image tensor) is read from request.json,
/// which the page offers as a download.
/// </summary>
public static class CallSnippets
{
    public const string KeyPlaceholder = "<your API key>";
    public const int MaxInlineBytes = 16 * 1024;

    public static bool Inline(string body) => Encoding.UTF8.GetByteCount(body) <= MaxInlineBytes && !body.Contains("'''", StringComparison.Ordinal);

    public static IReadOnlyList<CallSnippet> For(string url, string body)
    {
        var inline = Inline(body);
        return [new("curl", Curl(url, body, inline)), new("Python", Python(url, body, inline)), new("C#", CSharp(url, body, inline))];
    }

    public static string Curl(string url, string body, bool inline) =>
        $"curl -X POST '{url}' \\\n  -H 'Authorization: Bearer {KeyPlaceholder}' \\\n  -H 'Content-Type: application/json' \\\n  " +
        (inline ? $"--data-binary '{body.Replace("'", "'\\''", StringComparison.Ordinal)}'" : "--data-binary @request.json");

    public static string Python(string url, string body, bool inline) => $$"""
        import requests

        url = "{{url}}"
        headers = {"Authorization": "Bearer {{KeyPlaceholder}}", "Content-Type": "application/json"}
        {{(inline ? $"body = r'''{body}'''" : "body = open(\"request.json\", \"rb\").read()")}}

        response = requests.post(url, headers=headers, data=body)
        response.raise_for_status()
        for output in response.json()["outputs"]:
            print(output["name"], output["shape"], output["data"][:10])
        """;

    public static string CSharp(string url, string body, bool inline)
    {
        string bodyLine;
        if (inline)
        {
            // A raw string literal needs more quotes in its delimiter than any run of quotes inside it.
            var quotes = new string('"', Math.Max(3, LongestRun(body, '"') + 1));
            bodyLine = $"var body = {quotes}\n{body}\n{quotes};";
        }
        else
        {
            bodyLine = "var body = await File.ReadAllTextAsync(\"request.json\");";
        }
        return $"""
            using System.Net.Http.Headers;
            using System.Text;

            using var http = new HttpClient();
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "{KeyPlaceholder}");
            {bodyLine}
            using var response = await http.PostAsync("{url}", new StringContent(body, Encoding.UTF8, "application/json"));
            response.EnsureSuccessStatusCode();
            Console.WriteLine(await response.Content.ReadAsStringAsync());
            """;
    }

    private static int LongestRun(string text, char c)
    {
        int longest = 0, run = 0;
        foreach (var ch in text)
        {
            run = ch == c ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        return longest;
    }
}
