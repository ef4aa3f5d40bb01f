namespace MaaS.Onnx.Inference;

/// <summary>
/// The caller sent something the model cannot take: malformed JSON, a wrong datatype or shape, too few values, an
/// unknown input or output. The message is for people and names the input and the problem; the API answers 400.
/// Nothing has run when this is thrown, so it never says anything about the model's health.
/// </summary>
public class InferenceRequestException(string message) : Exception(message);

/// <summary>
/// The request body, or the tensors it declares, are over a limit the caller set; the API answers 413. Derives from
/// <see cref="InferenceRequestException"/> so a caller that only knows "bad request" still answers 4xx.
/// </summary>
public sealed class InferenceRequestTooLargeException(string message) : InferenceRequestException(message);

/// <summary>
/// Every session instance stayed busy past the queue timeout, or the queue was full: the request did not run and may be
/// retried later. The API answers 503.
/// </summary>
public sealed class InferenceOverloadedException(string message) : Exception(message);

/// <summary>
/// ONNX Runtime failed while running a request that passed validation (or a whole batch it was part of). The API
/// answers 500: this is the model's or the runtime's fault as far as the caller can tell.
/// </summary>
public sealed class InferenceRuntimeException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A model could not be loaded or warmed up; the message says why (for a deployment's Failed reason).</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// No model is loaded under the key, or the model asked for was unloaded or replaced before the request started. Nothing
/// ran: a router holding a stale reference may pick again. The API answers 404 or 503, as the deployment's state says.
/// </summary>
public sealed class ModelNotLoadedException(string message) : Exception(message);
