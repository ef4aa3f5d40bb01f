using System.Diagnostics.CodeAnalysis;

namespace MaaS.Onnx.Inference;

/// <summary>
/// The in-process model server: models loaded under keys (deployment + version), requests routed to the model under a
/// key, and changes without downtime. <see cref="ReplaceAsync"/> loads the new model while the old one keeps serving,
/// switches the key to it atomically, then waits for the old one's in-flight requests to finish before releasing its
/// sessions; no request fails because of a swap. A model that fails to load changes nothing, and never affects the
/// others.
/// <para>
/// For a version change or a traffic split the caller may also keep several keys loaded and route between them itself,
/// holding <see cref="LoadedModel"/> references: <see cref="LoadedModel.InferAsync"/> throws
/// <see cref="ModelNotLoadedException"/>, before doing anything, once a model has been retired, so such a router
/// switches its table first, then unloads, and re-picks on that exception.
/// </para>
/// </summary>
public sealed class InferenceHost : IAsyncDisposable
{
    private readonly Dictionary<ModelKey, Slot> _slots = [];
    private readonly Lock _gate = new();

    private sealed class Slot(LoadedModel model)
    {
        private LoadedModel _current = model;
        public LoadedModel Current => Volatile.Read(ref _current);
        public LoadedModel Exchange(LoadedModel model) => Interlocked.Exchange(ref _current, model);
    }

    public IReadOnlyList<ModelKey> Keys
    {
        get
        {
            lock (_gate) return _slots.Keys.ToList();
        }
    }

    /// <summary>Loads a model under a new key. Throws <see cref="ModelLoadException"/> if it cannot load, and
    /// <see cref="InvalidOperationException"/> if the key is taken (use <see cref="ReplaceAsync"/>).</summary>
    public async Task<LoadedModel> LoadAsync(ModelKey key, string path, InferenceSettings settings, CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (_slots.ContainsKey(key)) throw new InvalidOperationException($"A model is already loaded as {key}; replace it instead.");
        }
        var model = await LoadedModel.LoadAsync(key, path, settings, ct).ConfigureAwait(false);
        lock (_gate)
        {
            if (_slots.TryAdd(key, new Slot(model))) return model;
        }
        await model.DisposeAsync().ConfigureAwait(false);
        throw new InvalidOperationException($"A model was loaded as {key} meanwhile; replace it instead.");
    }

    /// <summary>
    /// Loads <paramref name="path"/> with <paramref name="settings"/> and puts it under <paramref name="key"/> in place
    /// of what is there (or as a new key), then waits until the old model's in-flight requests have finished and its
    /// sessions are released. If loading fails, the old model keeps serving and the exception says why.
    /// </summary>
    public async Task<LoadedModel> ReplaceAsync(ModelKey key, string path, InferenceSettings settings, CancellationToken ct = default)
    {
        var model = await LoadedModel.LoadAsync(key, path, settings, ct).ConfigureAwait(false);
        LoadedModel? old = null;
        lock (_gate)
        {
            if (_slots.TryGetValue(key, out var slot)) old = slot.Exchange(model);
            else _slots.Add(key, new Slot(model));
        }
        if (old is not null)
        {
            // Retire after the exchange: a request that still picks the old model either acquired it before (and
            // finishes on it) or fails to and re-reads the slot, which already holds the new one.
            old.Retire();
            await old.Drained.WaitAsync(ct).ConfigureAwait(false);
        }
        return model;
    }

    /// <summary>Removes the key, lets in-flight requests finish, and releases the sessions. False if nothing was loaded.</summary>
    public async Task<bool> UnloadAsync(ModelKey key, CancellationToken ct = default)
    {
        LoadedModel model;
        lock (_gate)
        {
            if (!_slots.Remove(key, out var slot)) return false;
            model = slot.Current;
        }
        model.Retire();
        await model.Drained.WaitAsync(ct).ConfigureAwait(false);
        return true;
    }

    public bool TryGet(ModelKey key, [NotNullWhen(true)] out LoadedModel? model)
    {
        lock (_gate)
        {
            model = _slots.TryGetValue(key, out var slot) ? slot.Current : null;
        }
        return model is not null;
    }

    /// <summary>
    /// Runs a request on the model under <paramref name="key"/>. Throws <see cref="ModelNotLoadedException"/> (no such
    /// key), <see cref="InferenceRequestException"/> (bad request), <see cref="InferenceOverloadedException"/> (busy),
    /// <see cref="InferenceRuntimeException"/> (the model failed).
    /// </summary>
    public async Task<InferenceResult> InferAsync(ModelKey key, InferenceRequest request, CancellationToken ct = default)
    {
        var model = Acquire(key);
        try
        {
            return await model.InferAcquiredAsync(request, ct).ConfigureAwait(false);
        }
        finally
        {
            model.Release();
        }
    }

    private LoadedModel Acquire(ModelKey key)
    {
        while (true)
        {
            if (!TryGet(key, out var model)) throw new ModelNotLoadedException($"No model is loaded as {key}.");
            if (model.TryAcquire()) return model;
            // Retired between the read and the acquire. The host retires a model only after taking it out of its slot,
            // so the slot now holds a successor (or is gone); if not, someone retired it behind the host's back.
            if (TryGet(key, out var again) && ReferenceEquals(again, model))
                throw new ModelNotLoadedException($"Model {key} was disposed without being unloaded from the host.");
        }
    }

    /// <summary>Unloads everything, waiting for in-flight requests.</summary>
    public async ValueTask DisposeAsync()
    {
        List<LoadedModel> models;
        lock (_gate)
        {
            models = _slots.Values.Select(s => s.Current).ToList();
            _slots.Clear();
        }
        foreach (var model in models) model.Retire();
        await Task.WhenAll(models.Select(m => m.Drained)).ConfigureAwait(false);
    }
}
