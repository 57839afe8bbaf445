"""The SMART-on-FHIR app for MBT clinicians (Flask)."""
