"""bench/scale: a deployed run at AWS scale, simulated, driving this project's own splitting code.

    bench/scale [--sizes 1M,100M] [--distributions uniform,single,skewed] [--assumptions FILE]
                [--prices FILE] [--FLAG VALUE ...] [--jobs 2] [--json] [--verify]

(``bench/scale`` runs ``python -m bench.scalesim`` in the project's virtualenv.)

No AWS and no moto: the buckets are models (model.py). A key set is a few segments, each an
increasing sequence of UUID-shaped keys under a prefix, answered by arithmetic and bisection, so
that the splitting code gets real page keys and real probe answers for 100M keys as for 1M.

What runs is the project's code, imported: ``seed_ranges`` and ``DEFAULT_RANGES`` seed the job;
``lister.split_policy`` (SURVEY_MIN_PAGE_KEYS, SPLIT_MIN_KEYS, KEYS_PER_PART, MAX_PARTS around
``survey`` and ``split_range``) decides every split, its probes answered by the model;
``SURVEY_EVERY_PAGES`` and ``DEFAULT_STOP_MARGIN_MS`` pace a lister as ``list_range`` does;
``CopyBatchPacker`` and ``CopyBatch.to_json`` size the copy batches and their SQS bytes;
``estimate.Prices`` prices the run. What is mirrored rather than imported is ``list_range``'s
loop (mirror.py: page, send, hand on near the timeout, survey every SURVEY_EVERY_PAGES pages, go
on with the first part after a split): it cannot run on 100M keys in Python, so ``--verify``
(verify.py) runs the real ``list_range`` with model-backed S3/SQS clients and a simulated clock
over smaller key sets and checks that both agree request for request.

A discrete-event loop (simulate.py) then plays the deployed stack: listers and copiers as Lambda
invocations started by SQS event sources that scale by +300 executions a minute up to the
template's MaximumConcurrency; list pages and probes of fixed latency; copiers copying the records
(copy batches) of an invocation at once, sharing COPY_CONCURRENCY copies in flight; and S3's write limit per prefix partition shared among the copies in flight on that partition
(processor sharing). Every assumption is a field of ``Assumptions`` (assumptions.py: flags, or a
JSON file), and is printed with the results (report.py).

Each scenario is run twice: with this project's design (seed_ranges + adaptive splitting) and with
the design it grew from (one range per printable ASCII character, 95 ranges, no splitting; given
this project's hand-on so that a large range finishes at all), which never lists a key whose
first character is not printable ASCII.
"""
