using MaaS.Portal.Storage;

namespace MaaS.Portal.Tests;

public sealed class DataPathsTests
{
    [Fact]
    public void Resolve_UsesTheContentRoot_NotTheWorkingDirectory()
    {
        var paths = DataPaths.Resolve("../../data", "/srv/app/src/MaaS.Portal");
        Assert.Equal("/srv/app/data", paths.Root);
        Assert.Equal("/srv/app/data/maas.db", paths.PortalDatabase);
        Assert.Equal("/srv/app/data/hangfire.db", paths.JobsDatabase);
    }

    [Fact]
    public void Resolve_KeepsAbsolutePaths()
    {
        Assert.Equal("/var/lib/maas", DataPaths.Resolve("/var/lib/maas", "/srv/app").Root);
    }

    [Fact]
    public void EnsureWritable_Fails_NamingThePathAndTheSetting()
    {
        var blocker = Path.GetTempFileName();
        try
        {
            var paths = new DataPaths(Path.Combine(blocker, "data"));
            var error = Assert.Throws<InvalidOperationException>(paths.EnsureWritable);
            Assert.Contains(paths.Root, error.Message);
            Assert.Contains("Storage:DataDirectory", error.Message);
        }
        finally
        {
            File.Delete(blocker);
        }
    }
}
