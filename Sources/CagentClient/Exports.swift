/// The wire types (``JSON``, ``RunEvent``, ``ExecuteResult``, ``ServiceError``, ...) live in
/// `CagentAPI`, which needs no networking, so the host's direct calls can share them.
@_exported import CagentAPI
