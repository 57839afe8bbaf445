"""The shipped FHIR definitions (this folder is installed as ``fhir_mbt.definitions``)."""
