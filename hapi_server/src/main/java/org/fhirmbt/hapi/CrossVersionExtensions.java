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
	private volatile Maker myMaker;

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
		Maker maker = myMaker;
		if (maker == null) {
			synchronized (this) {
				if (myMaker == null) {
					myMaker = new Maker(myChain);
				}
				maker = myMaker;
			}
		}
		return Optional.ofNullable(maker.define(theUrl));
	}

	/**
	 * The validator's own code that makes the definitions, and the R4/R5 conversion. Kept apart so
	 * that the server's start does not load those classes (and the R5 context they bring) before a
	 * validation needs them.
	 */
	private static final class Maker {

		private final XVerExtensionManager myManager;

		Maker(IValidationSupport theChain) {
			myManager = new XVerExtensionManagerOld(new WorkerContextValidationSupportAdapter(theChain));
		}

		IBaseResource define(String theUrl) {
			if (myManager.status(theUrl) != XVerExtensionManager.XVerExtensionStatus.Valid) {
				return null;
			}
			StructureDefinition definition = myManager.getDefinition(theUrl);
			return VersionConvertorFactory_40_50.convertResource(definition);
		}
	}
}
