"""Notifications: exactly one per finished job, whatever the retries."""

from datetime import datetime

from pynamodb.exceptions import PutError

from mediagen.models import Notification
from mediagen.observability import MetricName, count, logger

TITLES = {
    "IMAGE_COMPLETED": "🎨 Images générées avec succès",
    "IMAGE_FAILED": "❌ Échec de la génération d'images",
    "VIDEO_COMPLETED": "🎬 Vidéo générée avec succès",
    "VIDEO_FAILED": "❌ Échec de la génération vidéo",
}


def notification_id(finished_at: datetime, job_id: str) -> str:
    """Deterministic and time-ordered: every delivery of a finished job computes the same id from the
    job's stored completion time, so the conditional put creates it once."""
    return f"{finished_at.strftime('%Y%m%dT%H%M%S%fZ')}_{job_id}"


def notify_job_finished(
    *,
    user_id: str,
    job_id: str,
    kind: str,
    status: str,
    finished_at: datetime,
    source: str,
    file_count: int,
    error: str | None,
) -> bool:
    """Create the job's notification unless it exists. True when this call created it."""
    notification_type = f"{kind.upper()}_{'COMPLETED' if status == 'completed' else 'FAILED'}"
    if status == "completed":
        noun = "image(s) créée(s)" if kind == "image" else "vidéo(s) créée(s)"
        message = f"{file_count} {noun}."
    else:
        message = error or "La génération a échoué."
    notification = Notification(
        user_id=user_id,
        notification_id=notification_id(finished_at, job_id),
        type=notification_type,
        title=TITLES[notification_type],
        message=message,
        read=False,
        created_at=finished_at,
        generation_id=job_id,
        source=source,
    )
    try:
        notification.save(condition=Notification.notification_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    count(MetricName.NOTIFICATION_CREATED)
    logger.info("Notification created", extra={"notification_type": notification_type})
    return True
