"""What in a patient's MBT record needs a clinician's attention, for the app and for the EHR's chart.

    responses + care-team Tasks ─► record (entries) ─► risk (findings in the window)
                                                    ─► cards (critical / warning, CDS Hooks 2.0)
    prefetch | FHIR search within a time budget ─► data.PatientData
    EHR's JWT ─► client_auth.ClientVerifier (JWKS, issuer allowlist, aud, jti, exp)

The app's dashboard reads :mod:`.record` and :mod:`.risk`; its CDS Hooks
service (``smart_app.cds_hooks``) adds the rest. Nothing here knows Flask.
"""
