"""What comes in is checked before any work, and what goes out is written whole (floor 0 of docs/architecture.md).

- `validation`: the checks of every numeric and named option (CLI, Python API, web app alike);
- `schema`: the schema check of config.json, pipeline.json, cache manifests, YAML and safetensors headers;
- `safeload`: loading `torch.save` files without running their code;
- `outputs`: output paths checked before work starts; atomic writes of files and directories.
"""
