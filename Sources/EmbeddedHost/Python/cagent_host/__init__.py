"""The Python half of the embedded host.

The Swift host imports this package inside its interpreter thread and calls
``runner.run``; it knows nothing of the service beyond ``main:app`` and the
service's in-process contract (``app.state.service.shutdown()``). The service in
``python/`` knows nothing of this package.
"""
