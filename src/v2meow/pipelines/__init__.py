"""The generation pipeline: load a bundle, chain the stages, decode.

- `pipeline` (`V2MeowPipeline`), `chain` (one generic step for any role, and the chain of them),
  `windows` (windowed continuation, kept frames for an edit), `chunks` (chunked decoding, `phase`);
- bundles: `bundle` (`pipeline.json`, `GenerationConfig`), `assemble` (making and loading one),
  `checks` (components that disagree), `debug` (a tiny bundle for tests);
- from music: `resynthesis`, `edit` (regenerate a range, continue the user's music);
- `channels` (the condition channels the stages read, e.g. the rhythm), `outputs` (writing candidates, loudness).
"""

from v2meow.pipelines.bundle import GenerationConfig
from v2meow.pipelines.pipeline import PipelineOutput, V2MeowPipeline

__all__ = ["GenerationConfig", "PipelineOutput", "V2MeowPipeline"]
