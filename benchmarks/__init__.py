"""The benchmark suite: what ``resave``, ``touch_after`` and ``rolling`` cost, store by store.

Run it with ``python -m benchmarks`` (``--quick`` for a one-minute run, ``--store URL``
to add a Redis or MongoDB row).  A real Tornado server runs in one process, the
load generator in another; see ``benchmarks/README.md`` for what is measured and
how to read the results.

Modules: :mod:`.cli` (command line and orchestration), :mod:`.plan` (what is
measured), :mod:`.app` and :mod:`.server` (the server under test),
:mod:`.counting` (the store wrapper that counts operations), :mod:`.loadgen` and
:mod:`.httpclient` (the load generator), :mod:`.processes` (talking to both child
processes), :mod:`.runner` (phases and figures), :mod:`.payloads` (session
contents), :mod:`.serializer_bench`, :mod:`.machine`, :mod:`.report`,
:mod:`.charts` and :mod:`.progress`.
"""
