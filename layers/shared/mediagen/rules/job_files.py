"""The keys of a stored job's files in the media bucket (its folder is the settings'
`media_key_prefix`; a key the job names may lie outside it: jobs brought over from the old system keep
theirs)."""

from mediagen.contract.payloads import file_keys
from mediagen.data.models import Generation


def job_file_keys(job: Generation) -> list[str]:
    """Every key a stored job names: its files and their thumbnails."""
    return file_keys((file.s3_key, file.thumbnail_key) for file in job.files or [])
