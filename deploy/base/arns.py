"""The names of the template's resources in one fake account and region, physical name = logical id:
what the permissions check resolves the roles' intrinsics to (deploy/permissions.py) and what the call
recorder names each call's resource by (local/harness/aws_calls.py), so that both sides meet."""

from deploy.base.lambda_events import ACCOUNT_ID, REGION


def resource_arn(resource_type: str, logical_id: str) -> str:
    """The ARN a resource of the template gets in the check's fake account (physical name = logical id)."""
    prefix = f"{REGION}:{ACCOUNT_ID}"
    match resource_type:
        case "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{prefix}:table/{logical_id}"
        case "AWS::SQS::Queue":
            return f"arn:aws:sqs:{prefix}:{logical_id}"
        case "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{prefix}:secret:{logical_id}-AbCdEf"
        case "AWS::S3::Bucket":
            return f"arn:aws:s3:::{logical_id}"
        case "AWS::Lambda::Function" | "AWS::Serverless::Function":
            return f"arn:aws:lambda:{prefix}:function:{logical_id}"
        case "AWS::SNS::Topic":
            return f"arn:aws:sns:{prefix}:{logical_id}"
        case "AWS::Events::EventBus":
            return f"arn:aws:events:{prefix}:event-bus/{logical_id}"
        case "AWS::StepFunctions::StateMachine" | "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{prefix}:stateMachine:{logical_id}"
        case "AWS::AppSync::Api":
            return f"arn:aws:appsync:{prefix}:apis/{logical_id}"
        case _:
            service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "unknown"
            return f"arn:aws:{service}:{prefix}:{logical_id}"


def resource_ref(resource_type: str, logical_id: str) -> str:
    """What `Ref` of the resource gives (its name, URL or ARN, as CloudFormation documents per type)."""
    match resource_type:
        case "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{logical_id}"
        case "AWS::SecretsManager::Secret" | "AWS::SNS::Topic" | "AWS::StepFunctions::StateMachine":
            return resource_arn(resource_type, logical_id)
        case _:
            return logical_id


def resource_attribute(resource_type: str, logical_id: str, attribute: str) -> str:
    if attribute in ("Arn", "ApiArn"):
        return resource_arn(resource_type, logical_id)
    if attribute == "StreamArn":
        return f"{resource_arn(resource_type, logical_id)}/stream/2026-01-01T00:00:00.000"
    if attribute in ("QueueName", "TopicName", "Name", "ApiId"):
        return logical_id
    if attribute == "QueueUrl":
        return resource_ref(resource_type, logical_id)
    return f"{logical_id}.{attribute}"
