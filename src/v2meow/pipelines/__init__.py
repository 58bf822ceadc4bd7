"""The generation pipeline: load a bundle, chain the stages, decode."""

from v2meow.pipelines.bundle import GenerationConfig
from v2meow.pipelines.pipeline import PipelineOutput, V2MeowPipeline

__all__ = ["GenerationConfig", "PipelineOutput", "V2MeowPipeline"]
