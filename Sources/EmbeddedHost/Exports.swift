/// Direct calls return and throw the wire types (``ExecuteResult``, ``JSON``,
/// ``RunEvent``, ``ServiceError``) of `CagentAPI`, which is not a product of its own:
/// re-exported, so that an app importing only `EmbeddedHost` can name them.
@_exported import CagentAPI
// Duration's units (`milliseconds`, `inSeconds`) that the configuration types speak in.
@_exported import Loopback
// The single file's payload and its cache (`OnefileBundle`), which the CLI prepares
// before anything looks for the runtime.
@_exported import SingleFile
