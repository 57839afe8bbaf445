"""The FHIR R4 JSON schema, as published with the R4 specification (CC0).

Shipped compressed so that structural validation works offline. The one
change from the 4.0.0 publication: the FHIRVersion enumerations also accept
"4.0.1", the R4 technical correction every R4 server reports.
"""
