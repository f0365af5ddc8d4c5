from pipelines.build import merge_stats


def test_merge_stats_adds_counts_reasons_and_keeps_warnings():
    stats = [
        {"stage": "filter", "task": "web.00000", "source": "web", "input": "a.warc.gz", "num_docs_in": 10,
         "num_docs_out": 7, "num_chars_out": 700, "reasons": {"lid_low_score": 2, "url_blocked_domain": 1},
         "reason_chars": {"lid_low_score": 50, "url_blocked_domain": 9}, "seconds": 1.25, "node_ip": "127.0.0.2"},
        {"stage": "filter", "task": "web.00001", "source": "web", "num_docs_in": 5, "num_docs_out": 5,
         "num_chars_out": 300, "reasons": {}, "reason_chars": {}, "seconds": 0.5},
        {"stage": "filter", "task": "wiki.00000", "source": "wiki", "num_docs_in": 3, "num_docs_out": 1,
         "reasons": {"lid_wrong_language": 2}, "seconds": 0.1},
        {"stage": "mix", "task": "shards", "source": "_all", "warnings": ["books: capped at 1 epoch"], "seconds": 0},
    ]
    assert merge_stats(stats) == {
        "_all": {"num_tasks": 1, "reasons": {}, "seconds": 0, "warnings": ["books: capped at 1 epoch"]},
        "web": {"num_chars_out": 1000, "num_docs_in": 15, "num_docs_out": 12, "num_tasks": 2,
                "reason_chars": {"lid_low_score": 50, "url_blocked_domain": 9},
                "reasons": {"lid_low_score": 2, "url_blocked_domain": 1}, "seconds": 1.75},
        "wiki": {"num_docs_in": 3, "num_docs_out": 1, "num_tasks": 1, "reasons": {"lid_wrong_language": 2},
                 "seconds": 0.1},
    }
