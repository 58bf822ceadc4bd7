"""Training code: LightningModules, data modules, checkpoint export. Model code never imports it."""
