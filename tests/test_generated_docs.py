from percus.generated_docs import generated_documents, stale_documents


def test_committed_generated_documents_match_the_code() -> None:
    assert stale_documents() == [], "run `percus docs` and commit the result"


def test_event_schema_document_lists_every_event_type() -> None:
    from translator.canonical import EVENT_TYPES

    text = next(t for p, t in generated_documents().items() if p.name == "event-v1.json")
    assert all(f'"const": "{name}"' in text for name in EVENT_TYPES)
