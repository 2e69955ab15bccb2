"""The deploy and checks tooling: deploying a stack and handing it over (`cli`, `smoke`), the files
generated from template.yaml (`openapi`, `monitoring`, `events`), the template readers (`cfn_template`,
`cfn_functions`) and the build and dependency checks (`checks`)."""
