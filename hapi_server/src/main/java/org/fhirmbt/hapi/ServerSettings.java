package org.fhirmbt.hapi;

import java.nio.file.Path;

/**
 * Start-up options, from command-line arguments first, then environment variables, then defaults.
 *
 * <pre>
 *   --port N        HAPI_PORT      TCP port (default 8080; 0 picks a free one)
 *   --host ADDR     HAPI_HOST      listen address (default 127.0.0.1)
 *   --data-dir DIR  HAPI_DATA_DIR  H2 database on disk under DIR (default: in memory, gone on exit)
 * </pre>
 */
public final class ServerSettings {

	public final int port;
	public final String host;
	public final Path dataDir;

	private ServerSettings(int thePort, String theHost, Path theDataDir) {
		port = thePort;
		host = theHost;
		dataDir = theDataDir;
	}

	public static ServerSettings parse(String[] theArgs) {
		String port = System.getenv("HAPI_PORT");
		String host = System.getenv("HAPI_HOST");
		String dataDir = System.getenv("HAPI_DATA_DIR");
		for (int i = 0; i < theArgs.length; i++) {
			String arg = theArgs[i];
			String value = null;
			int eq = arg.indexOf('=');
			if (eq > 0) {
				value = arg.substring(eq + 1);
				arg = arg.substring(0, eq);
			}
			switch (arg) {
				case "--port", "--host", "--data-dir" -> {
					if (value == null) {
						if (i + 1 >= theArgs.length) {
							throw new IllegalArgumentException("Missing value for " + arg);
						}
						value = theArgs[++i];
					}
					if (arg.equals("--port")) {
						port = value;
					} else if (arg.equals("--host")) {
						host = value;
					} else {
						dataDir = value;
					}
				}
				case "--help", "-h" -> {
					System.out.println("Usage: java -jar hapi-server.jar [--port N] [--host ADDR] [--data-dir DIR]");
					System.exit(0);
				}
				default -> throw new IllegalArgumentException("Unknown argument: " + theArgs[i]);
			}
		}
		int portNumber = isBlank(port) ? 8080 : Integer.parseInt(port.trim());
		if (portNumber < 0 || portNumber > 65535) {
			throw new IllegalArgumentException("Port out of range: " + portNumber);
		}
		return new ServerSettings(
				portNumber,
				isBlank(host) ? "127.0.0.1" : host.trim(),
				isBlank(dataDir) ? null : Path.of(dataDir.trim()).toAbsolutePath());
	}

	/** JDBC URL of the H2 database: in memory unless a data directory was given. */
	public String jdbcUrl() {
		if (dataDir == null) {
			// DB_CLOSE_DELAY=-1 keeps the database for the life of the JVM, not of one connection
			return "jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1";
		}
		return "jdbc:h2:file:" + dataDir.resolve("h2").toString().replace('\\', '/');
	}

	private static boolean isBlank(String theValue) {
		return theValue == null || theValue.isBlank();
	}
}
