"""Every count of the template's resources that the docs state is the template's count, and the
README's diagram and the data model name every function and table: a count in the docs that no test
compares goes stale (the architecture said "Two DynamoDB tables" when there were four, the costs "2
secrets" and "about 20 alarms" when there were five and 32)."""

import re
from pathlib import Path

import pytest

from deploy.base.cfn_template import load_template, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}  # fmt: skip
NOUNS = (
    "DynamoDB tables|dead-letter queues|SQS queues|queues|secrets|alarms|Lambda functions|functions"
    "|stack outputs|outputs"
)
COUNT = re.compile(rf"\b(\d+|{'|'.join(NUMBERS)})\s+({NOUNS})\b", re.IGNORECASE)
# Counts of something else than the template's resources, each with why (file, the phrase as written).
NOT_THE_TEMPLATES = {
    ("deploy.md", "two secrets"),  # the two values handed to the backend team, not the stack's secrets
    ("local-service.md", "two functions"),  # "a variable with different values in two functions"
}


def template_counts() -> dict[str, int]:
    queues = resources_of_type("AWS::SQS::Queue")
    return {
        "dynamodb tables": len(resources_of_type("AWS::DynamoDB::Table")),
        "queues": len(queues),
        "sqs queues": len(queues),
        "dead-letter queues": sum("DeadLetter" in name for name in queues),
        "secrets": len(resources_of_type("AWS::SecretsManager::Secret")),
        "alarms": len(resources_of_type("AWS::CloudWatch::Alarm", nested=True)),
        "functions": len(resources_of_type("AWS::Serverless::Function")),
        "lambda functions": len(resources_of_type("AWS::Serverless::Function")),
        "outputs": len(load_template()["Outputs"]),
        "stack outputs": len(load_template()["Outputs"]),
    }


def stated_counts() -> list[tuple[str, int, str, str, int]]:
    """(file, line, phrase, noun, number) of every count of a template noun in the docs."""
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in COUNT.finditer(line):
                phrase = re.sub(r"\s+", " ", match.group(0))
                if (path.name, phrase.lower()) not in NOT_THE_TEMPLATES:
                    noun = re.sub(r"\s+", " ", match.group(2)).lower()
                    found.append((path.name, number, phrase, noun, _number(match.group(1))))
    return found


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word.lower()]


def test_every_count_of_the_templates_resources_in_the_docs_is_the_templates() -> None:
    counts = template_counts()
    wrong = [
        f"{name}:{line}: {phrase!r} (the template has {counts[noun]})"
        for name, line, phrase, noun, number in stated_counts()
        if number != counts[noun]
    ]
    assert wrong == []


def test_the_docs_state_counts_that_this_test_compares() -> None:
    # the check above is not vacuous: the data model's table count and the costs' secrets and alarms
    nouns = {noun for _, _, _, noun, _ in stated_counts()}
    assert {"dynamodb tables", "secrets", "alarms"} <= nouns


@pytest.mark.parametrize("phrase", ["Two DynamoDB tables", "2 secrets", "about 20 alarms"])
def test_a_stale_count_is_found(phrase: str) -> None:
    match = COUNT.search(phrase)
    assert match is not None
    assert _number(match.group(1)) != template_counts()[re.sub(r"\s+", " ", match.group(2)).lower()]


def readme_diagram() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Architecture") :]
    return section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]


def test_the_readme_diagram_names_every_function_and_table_of_the_template() -> None:
    diagram = readme_diagram()
    functions = [name.removesuffix("Function") for name in resources_of_type("AWS::Serverless::Function")]
    # "CompletionWebhook" is drawn over two lines of its box, "GenerationResult" as "Result" after
    # "GenerationStatus /": the names as the boxes spell them
    drawn = {"CompletionWebhook": "Completion", "GenerationResult": "Result"}
    missing = [name for name in functions if drawn.get(name, name) not in diagram]
    tables = [name.removesuffix("Table") for name in resources_of_type("AWS::DynamoDB::Table")]
    missing += [name for name in tables if name not in diagram]
    assert missing == []


def test_the_data_model_lists_every_table_of_the_template() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    model = text[text.index("## Data model") :]
    model = model[: model.index("\n## ", 3)]
    rows = set(re.findall(r"^\| (\w+) \| `", model, re.MULTILINE))
    assert rows == {name.removesuffix("Table") for name in resources_of_type("AWS::DynamoDB::Table")}
