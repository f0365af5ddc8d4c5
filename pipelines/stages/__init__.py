"""Stage task functions: `fn(run_url, payload) -> stats`. No Ray here (the runner owns Ray).

Every stage after `extract` maps one input part to one output part with the same task id, so a
document's path through the run is easy to follow: extract/<source>/part-<task>.parquet ->
annotate/... -> filter/... -> tokenize/... . Stats use the same keys everywhere:
source, num_docs_in, num_docs_out, num_chars_in, num_chars_out, num_bytes_in, reasons{code: count}.
"""
