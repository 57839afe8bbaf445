"""The demo: HAPI FHIR, the local EHR sandbox and the app, on loopback, in one command."""
