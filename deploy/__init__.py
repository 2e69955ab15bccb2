"""The deploy and checks tooling: deploying a stack and handing it over (`cli`, `smoke`), the files
generated from template.yaml (`openapi`, `monitoring`, `events`), the build and dependency checks
(`checks`), and `base`: the template readers, intrinsics, AWS's events and the development keys, the
shared base that the local stack (`local/`) imports too; nothing else of `deploy/` is imported by
`local/`, and nothing of `local/` by `deploy/`."""
