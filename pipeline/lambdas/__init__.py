"""AWS Lambda entry points of the pipeline (deploy/template.yaml): writer, compactor, rollups, webhooks,
digest, DSAR, retention. The ingest and API functions run the gateway (gateway/lambda_ingest.py,
gateway/lambda_api.py).

Each handler builds what it needs once per container from the environment the template sets.
"""
