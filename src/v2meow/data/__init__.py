"""Training data: `v2meow-prepare` writes a versioned, resumable cache; the stage datasets read it.

- preparing: `sources` (what is read), `prepare` and `work` (the driver and the per-process side),
  `runner` (a pool of workers), `beatweights` (VMAs' weights), `recode` (the codes by another codec);
- the cache: `cache` (shards, manifest, checksums), `contract` (which components made it), `info`;
- training: `datasets` (aligned random crops per stage), `sampling` (an order a resume repeats).
"""
