// PLACEHOLDER written by the compression engineer so the solution builds while the sample-sets slice is in progress.
// The sample-sets helper: replace this whole file with the real SampleSetService (keep LoadSamplesAsync's signature
// and SampleSetException), and register the service in AddSampleSets().
using MaaS.Onnx.Compression;
using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Features.SampleSets;

public sealed class SampleSetException(string message) : Exception(message);

public sealed class SampleSetService
{
    public Task<IReadOnlyList<ModelSample>> LoadSamplesAsync(Guid sampleSetId, string userId, bool isAdmin, IReadOnlyList<SignatureTensor> inputs,
        int maxSamples, CancellationToken cancellationToken) =>
        throw new SampleSetException("Sample sets are not available yet.");
}
