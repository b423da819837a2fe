"""AWS Lambda entry points (deploy/template.yaml): ingest, writer, compactor, rollups,
webhooks, digest.

Each handler builds what it needs once per container from the environment the template sets.
"""
