using Microsoft.Extensions.Options;

namespace MaaS.Portal.Storage;

public static class StorageExtensions
{
    /// <summary>
    /// Binds and validates <see cref="StorageOptions"/> and registers the resolved <see cref="DataPaths"/>.
    /// The folder is created and checked here, while the host is built, so a bad path stops start-up at once.
    /// </summary>
    public static DataPaths AddStorage(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        var options = builder.Configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            throw new OptionsValidationException(StorageOptions.Section, typeof(StorageOptions),
                [$"'{StorageOptions.Section}:{nameof(StorageOptions.DataDirectory)}' must name a folder."]);
        }
        var paths = DataPaths.Resolve(options.DataDirectory, builder.Environment.ContentRootPath);
        paths.EnsureWritable();

        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton<BlobStore>();
        return paths;
    }
}
