"""VERIFY_FILES=1: one HEAD request per file key of the migrated jobs, at most `concurrency` at a time.

The files stay where the old system wrote them; the service signs URLs for keys in its own media
bucket, so a key missing from that bucket is a result that will not download. Reported, not fatal.
"""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from migration.report import Report
from migration.rules import JobPlan


class FileChecker:
    def __init__(self, s3: Any, bucket: str, report: Report, *, concurrency: int) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.report = report
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="migrate-head")
        self._slots = threading.BoundedSemaphore(concurrency * 4)

    def submit(self, plan: JobPlan) -> None:
        for stored in plan.job.files or []:
            self._slots.acquire()
            future = self._pool.submit(self._head, str(plan.job.job_id), str(stored.s3_key))
            future.add_done_callback(self._release)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _release(self, _: Future[None]) -> None:
        self._slots.release()

    def _head(self, job_id: str, key: str) -> None:
        self.report.count("files.checked")
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            reason = (
                "not in the bucket" if code in ("404", "NoSuchKey", "NotFound") else f"HEAD answered {code}"
            )
        except botocore.exceptions.BotoCoreError as exc:
            reason = f"HEAD failed: {exc}"
        self.report.count("files.missing")
        self.report.entry("missing_files", job_id=job_id, key=key, reason=reason)
