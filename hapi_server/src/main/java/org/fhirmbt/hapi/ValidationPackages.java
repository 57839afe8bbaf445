package org.fhirmbt.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.validation.JpaValidationSupportChain;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.ApplicationContext;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The FHIR packages $validate knows besides R4 core: HL7 SDC and the extensions pack it builds on,
 * shipped in the jar under {@code fhir-packages/} (listed, with their SHA-256, in
 * {@code fhir-packages/SHA256SUMS}) so that validation never fetches anything.
 *
 * <p>They are read while Spring starts, on a thread of their own, into memory
 * ({@link PackageDefinitions}: a definition is parsed when first asked for) and put in the JPA
 * validation chain after what is stored on the server and before HAPI's built-in R4 definitions
 * (see {@link #beforeCoreDefinitions}). Nothing is written to the database, so a server on a data
 * directory starts the same way every time. A package whose bytes do not match its checksum stops
 * the server.
 *
 * <p>{@code xver-paths-5.0.json} (also listed there) is the table of R5 elements from which the
 * validator defines R5 cross-version extensions ({@code http://hl7.org/fhir/5.0/StructureDefinition/extension-...}),
 * as the HL7 validator does from the core packages; {@link CrossVersionExtensions} answers their
 * definitions from it. SDC's profiles slice on three of them.
 */
final class ValidationPackages {

	private static final Logger ourLog = LoggerFactory.getLogger(ValidationPackages.class);

	static final String FOLDER = "fhir-packages/";
	static final String CHECKSUMS = FOLDER + "SHA256SUMS";

	private ValidationPackages() {}

	/**
	 * Reads and checks every listed package on a thread of its own, so that it overlaps the start of
	 * the Spring context (it takes a second or two); {@link #addTo} waits for it.
	 */
	static CompletableFuture<PackageDefinitions> loadInBackground() {
		CompletableFuture<PackageDefinitions> retVal = new CompletableFuture<>();
		Thread loader = new Thread(() -> {
			try {
				retVal.complete(load());
			} catch (Throwable e) {
				retVal.completeExceptionally(e);
			}
		}, "validation-packages");
		loader.setDaemon(true);
		loader.start();
		return retVal;
	}

	/** Every package listed in {@code SHA256SUMS}, checked against its checksum, in one support. */
	static PackageDefinitions load() {
		long start = System.nanoTime();
		PackageDefinitions retVal = new PackageDefinitions();
		List<String> loaded = new ArrayList<>();
		for (String[] entry : checksums()) {
			String expected = entry[0];
			String file = entry[1];
			byte[] bytes = read(FOLDER + file);
			String actual = sha256(bytes);
			if (!actual.equals(expected)) {
				throw new IllegalStateException("FHIR package " + file + " does not match " + CHECKSUMS
						+ " (SHA-256 " + actual + ", expected " + expected + ")");
			}
			if (file.endsWith(".tgz")) {
				try {
					retVal.addPackage(NpmPackage.fromPackage(new ByteArrayInputStream(bytes)));
				} catch (IOException e) {
					throw new UncheckedIOException("Cannot read FHIR package " + file, e);
				}
			} else {
				retVal.addBinary(file, bytes);
			}
			loaded.add(file);
		}
		ourLog.info(
				"Validation packages read in {} s ({} definitions): {}",
				String.format("%.1f", (System.nanoTime() - start) / 1e9),
				retVal.size(),
				String.join(", ", loaded));
		return retVal;
	}

	/** Adds the packages, and the R5 cross-version extensions, to the server's validation chain. */
	static void addTo(ApplicationContext theAppCtx, CompletableFuture<PackageDefinitions> thePackages) {
		PackageDefinitions packages;
		try {
			packages = thePackages.get();
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException("Interrupted while reading the validation packages", e);
		} catch (ExecutionException e) {
			throw new IllegalStateException("Cannot load the validation packages: " + e.getCause().getMessage(), e.getCause());
		}
		FhirContext fhirContext = theAppCtx.getBean(FhirContext.class);
		packages.setFhirContext(fhirContext);
		JpaValidationSupportChain chain = theAppCtx.getBean(JpaValidationSupportChain.class);
		// Each addition empties the chain's caches (so nothing looked up during start is kept stale)
		chain.addValidationSupport(new CrossVersionExtensions(fhirContext, chain));
		chain.addValidationSupport(beforeCoreDefinitions(chain), packages);
	}

	/**
	 * Where the packages go in the chain: before HAPI's built-in R4 definitions, after what is stored
	 * on the server. The extensions pack holds newer definitions of some extensions R4 core already
	 * had (cqf-calculatedValue takes an Expression, not a string; questionnaire-displayCategory lost
	 * R4's erroneous context invariant {@code type!='display'}), and SDC is written against them;
	 * the HL7 validator likewise prefers the newer version of a definition.
	 */
	private static int beforeCoreDefinitions(JpaValidationSupportChain theChain) {
		List<IValidationSupport> supports = theChain.getValidationSupports();
		for (int i = 0; i < supports.size(); i++) {
			if (supports.get(i) instanceof DefaultProfileValidationSupport) {
				return i;
			}
		}
		throw new IllegalStateException("HAPI's validation chain has no DefaultProfileValidationSupport");
	}

	/** (sha256, file name) pairs of {@code SHA256SUMS}, in the format {@code sha256sum} writes. */
	static List<String[]> checksums() {
		String text = new String(read(CHECKSUMS), StandardCharsets.UTF_8);
		List<String[]> retVal = new ArrayList<>();
		for (String line : text.split("\n")) {
			if (line.isBlank()) {
				continue;
			}
			String[] parts = line.trim().split("\\s+\\*?", 2);
			if (parts.length != 2 || !parts[0].matches("[0-9a-f]{64}")) {
				throw new IllegalStateException("Bad line in " + CHECKSUMS + ": " + line);
			}
			retVal.add(parts);
		}
		if (retVal.isEmpty()) {
			throw new IllegalStateException(CHECKSUMS + " lists no package");
		}
		return retVal;
	}

	private static byte[] read(String theResource) {
		try (InputStream in = ValidationPackages.class.getClassLoader().getResourceAsStream(theResource)) {
			if (in == null) {
				throw new IllegalStateException("Not in the server's jar: " + theResource);
			}
			return in.readAllBytes();
		} catch (IOException e) {
			throw new UncheckedIOException("Cannot read " + theResource, e);
		}
	}

	private static String sha256(byte[] theBytes) {
		try {
			return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(theBytes));
		} catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException(e);
		}
	}
}
