package org.fhirmbt.hapi;

import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

import java.util.concurrent.CompletableFuture;

/**
 * Starts the HAPI FHIR JPA server (R4, embedded H2) in embedded Jetty, base URL
 * http://HOST:PORT/fhir. Stops cleanly on SIGTERM / Ctrl-C.
 */
public final class HapiServerMain {

	private static final Logger ourLog = LoggerFactory.getLogger(HapiServerMain.class);

	private HapiServerMain() {}

	public static void main(String[] theArgs) throws Exception {
		long start = System.nanoTime();
		ServerSettings settings;
		try {
			settings = ServerSettings.parse(theArgs);
		} catch (IllegalArgumentException e) {
			System.err.println(e.getMessage());
			System.exit(2);
			return;
		}
		ourLog.info(
				"Starting HAPI FHIR JPA server on {}:{}, database {}",
				settings.host,
				settings.port,
				settings.jdbcUrl());

		CompletableFuture<PackageDefinitions> validationPackages = ValidationPackages.loadInBackground();
		validationPackages.whenComplete((thePackages, theError) -> {
			if (theError != null) {
				// Before Spring has started anything worth stopping cleanly
				ourLog.error("Cannot start: {}", theError.getMessage());
				System.exit(1);
			}
		});
		AnnotationConfigApplicationContext appCtx = new AnnotationConfigApplicationContext();
		appCtx.registerBean(ServerSettings.class, () -> settings);
		appCtx.register(FhirServerConfig.class);
		appCtx.refresh();
		try {
			ValidationPackages.addTo(appCtx, validationPackages);
		} catch (RuntimeException e) {
			// A server whose $validate lacks what it claims to know must not start
			ourLog.error("Cannot start: {}", e.getMessage());
			appCtx.close();
			System.exit(1);
			return;
		}

		Server server = new Server();
		ServerConnector connector = new ServerConnector(server);
		connector.setHost(settings.host);
		connector.setPort(settings.port);
		server.addConnector(connector);

		ServletContextHandler context = new ServletContextHandler();
		context.setContextPath("/");
		ServletHolder fhirServlet = new ServletHolder("fhir", new FhirRestfulServer(appCtx));
		fhirServlet.setInitOrder(1);
		context.addServlet(fhirServlet, "/fhir/*");
		server.setHandler(context);
		server.setStopAtShutdown(false);

		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			ourLog.info("Stopping HAPI FHIR JPA server");
			try {
				server.stop();
			} catch (Exception e) {
				ourLog.warn("Error stopping Jetty", e);
			}
			appCtx.close();
		}, "hapi-shutdown"));

		server.start();
		double seconds = (System.nanoTime() - start) / 1e9;
		ourLog.info(
				"HAPI FHIR server ready at http://{}:{}/fhir (started in {} s)",
				settings.host,
				connector.getLocalPort(),
				String.format("%.1f", seconds));
		server.join();
	}
}
