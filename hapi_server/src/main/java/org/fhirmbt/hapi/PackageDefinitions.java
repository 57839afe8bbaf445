package org.fhirmbt.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.context.support.ValidationSupportContext;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.LenientErrorHandler;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.json.model.JsonObject;
import org.hl7.fhir.utilities.npm.NpmPackage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The StructureDefinitions, ValueSets and CodeSystems of FHIR packages, for the validation chain,
 * each parsed on first use.
 *
 * <p>A package's {@code .index.json} says which file holds which canonical, so reading a package
 * is unpacking it and reading that index: the extensions pack alone has some 700 definitions, of
 * which a validation needs a few, and parsing them all cost the server seconds at every start.
 * A canonical found in two packages is taken from the first. Binaries (files the validator asks
 * for by name, such as {@code xver-paths-5.0.json}) are held as given.
 */
final class PackageDefinitions implements IValidationSupport {

	private static final Set<String> TYPES = Set.of("StructureDefinition", "ValueSet", "CodeSystem");

	private record Source(NpmPackage.NpmPackageFolder folder, String file, String type) {}

	private volatile FhirContext myFhirContext;
	private final Map<String, Source> mySources = new HashMap<>();
	private final Map<String, byte[]> myBinaries = new HashMap<>();
	private final Map<Source, IBaseResource> myParsed = new ConcurrentHashMap<>();

	/** The server's FhirContext, which parses the definitions; set before the chain uses them. */
	void setFhirContext(FhirContext theFhirContext) {
		myFhirContext = theFhirContext;
	}

	/** Indexes the definitions of {@code thePackage} (its {@code package/} folder). */
	void addPackage(NpmPackage thePackage) throws IOException {
		NpmPackage.NpmPackageFolder folder = thePackage.getFolders().get("package");
		if (folder == null || folder.index() == null) {
			throw new IOException("FHIR package " + thePackage.name() + " has no package/.index.json");
		}
		for (JsonObject entry : folder.index().getJsonObjects("files")) {
			String type = entry.asString("resourceType");
			String url = entry.asString("url");
			if (TYPES.contains(type) && url != null) {
				Source source = new Source(folder, entry.asString("filename"), type);
				mySources.putIfAbsent(url, source);
				String version = entry.asString("version");
				if (version != null) {
					mySources.putIfAbsent(url + "|" + version, source);
				}
			}
		}
	}

	void addBinary(String theName, byte[] theBytes) {
		myBinaries.put(theName, theBytes);
	}

	/** How many canonicals the packages define. */
	int size() {
		return (int) mySources.keySet().stream().filter(k -> !k.contains("|")).count();
	}

	@Override
	public FhirContext getFhirContext() {
		return myFhirContext;
	}

	@Override
	public String getName() {
		return "fhir-mbt validation packages";
	}

	@Override
	public IBaseResource fetchStructureDefinition(String theUrl) {
		return fetch("StructureDefinition", theUrl);
	}

	@Override
	public IBaseResource fetchValueSet(String theUrl) {
		return fetch("ValueSet", theUrl);
	}

	@Override
	public IBaseResource fetchCodeSystem(String theUrl) {
		return fetch("CodeSystem", theUrl);
	}

	@Override
	public boolean isValueSetSupported(ValidationSupportContext theContext, String theUrl) {
		return source("ValueSet", theUrl) != null;
	}

	@Override
	public boolean isCodeSystemSupported(ValidationSupportContext theContext, String theSystem) {
		return source("CodeSystem", theSystem) != null;
	}

	@Override
	public byte[] fetchBinary(String theKey) {
		return myBinaries.get(theKey);
	}

	@SuppressWarnings("unchecked")
	@Override
	public <T extends IBaseResource> List<T> fetchAllStructureDefinitions() {
		return (List<T>) all(Set.of("StructureDefinition"));
	}

	@SuppressWarnings("unchecked")
	@Override
	public <T extends IBaseResource> List<T> fetchAllNonBaseStructureDefinitions() {
		return fetchAllStructureDefinitions();
	}

	@Override
	public List<IBaseResource> fetchAllConformanceResources() {
		return all(TYPES);
	}

	private Source source(String theType, String theUrl) {
		if (theUrl == null) {
			return null;
		}
		Source source = mySources.get(theUrl);
		return source != null && source.type().equals(theType) ? source : null;
	}

	private IBaseResource fetch(String theType, String theUrl) {
		Source source = source(theType, theUrl);
		return source == null ? null : myParsed.computeIfAbsent(source, this::parse);
	}

	private List<IBaseResource> all(Set<String> theTypes) {
		List<IBaseResource> retVal = new ArrayList<>();
		new HashMap<>(mySources).entrySet().stream()
				.filter(e -> !e.getKey().contains("|") && theTypes.contains(e.getValue().type()))
				.forEach(e -> retVal.add(myParsed.computeIfAbsent(e.getValue(), this::parse)));
		return retVal;
	}

	private IBaseResource parse(Source theSource) {
		try {
			IParser parser = myFhirContext.newJsonParser().setParserErrorHandler(new LenientErrorHandler(false));
			byte[] bytes = theSource.folder().fetchFile(theSource.file());
			if (bytes == null) {
				throw new IOException("no such file in the package: " + theSource.file());
			}
			return parser.parseResource(new String(bytes, StandardCharsets.UTF_8));
		} catch (IOException e) {
			throw new UncheckedIOException("Cannot read " + theSource.file() + " from a validation package", e);
		}
	}
}
