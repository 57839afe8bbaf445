package org.fhirmbt.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import org.hl7.fhir.common.hapi.validation.validator.WorkerContextValidationSupportAdapter;
import org.hl7.fhir.convertors.factory.VersionConvertorFactory_40_50;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r5.model.StructureDefinition;
import org.hl7.fhir.r5.utils.xver.XVerExtensionManager;
import org.hl7.fhir.r5.utils.xver.XVerExtensionManagerOld;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Answers the definitions of R5 cross-version extensions
 * ({@code http://hl7.org/fhir/5.0/StructureDefinition/extension-<R5 path>}) as R4 StructureDefinitions.
 *
 * <p>No package defines them: the FHIR validator makes each one from its table of R5 paths
 * ({@code xver-paths-5.0.json}, which {@link ValidationPackages} puts in the chain) when it meets
 * such an extension in a resource. A profile that slices on one (HL7 SDC's Questionnaire profiles
 * do, on {@code versionAlgorithm[x]}, {@code copyrightLabel} and {@code item.answerConstraint})
 * needs the definition itself, which HAPI looks up in the validation chain, where nothing had it.
 * This support makes it with the validator's own code, from the same table, on first use.
 */
final class CrossVersionExtensions implements IValidationSupport {

	static final String R5_PREFIX = "http://hl7.org/fhir/5.0/StructureDefinition/extension-";

	private final FhirContext myFhirContext;
	private final IValidationSupport myChain;
	private final Map<String, Optional<IBaseResource>> myDefinitions = new ConcurrentHashMap<>();
	private volatile XVerExtensionManager myManager;

	/** {@code theChain} is the validation chain this support is part of (it holds the path table). */
	CrossVersionExtensions(FhirContext theFhirContext, IValidationSupport theChain) {
		myFhirContext = theFhirContext;
		myChain = theChain;
	}

	@Override
	public FhirContext getFhirContext() {
		return myFhirContext;
	}

	@Override
	public String getName() {
		return "R5 cross-version extensions";
	}

	@Override
	public IBaseResource fetchStructureDefinition(String theUrl) {
		if (theUrl == null || !theUrl.startsWith(R5_PREFIX)) {
			return null;
		}
		String url = theUrl.replace("%5Bx%5D", "[x]");
		return myDefinitions.computeIfAbsent(url, this::define).orElse(null);
	}

	private Optional<IBaseResource> define(String theUrl) {
		XVerExtensionManager manager = manager();
		if (manager.status(theUrl) != XVerExtensionManager.XVerExtensionStatus.Valid) {
			return Optional.empty();
		}
		StructureDefinition definition = manager.getDefinition(theUrl);
		return Optional.of(VersionConvertorFactory_40_50.convertResource(definition));
	}

	private XVerExtensionManager manager() {
		if (myManager == null) {
			synchronized (this) {
				if (myManager == null) {
					myManager = new XVerExtensionManagerOld(new WorkerContextValidationSupportAdapter(myChain));
				}
			}
		}
		return myManager;
	}
}
