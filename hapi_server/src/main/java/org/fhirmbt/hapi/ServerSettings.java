package org.fhirmbt.hapi;

import java.nio.file.Path;

/**
 * Start-up options, from command-line arguments first, then environment variables, then defaults.
 *
 * <pre>
 *   --port N        HAPI_PORT      TCP port (default 8080; 0 picks a free one)
 *   --host ADDR     HAPI_HOST      listen address (default 127.0.0.1)
 *   --data-dir DIR  HAPI_DATA_DIR  H2 database on disk under DIR (default: in memory, gone on exit)
 *   --h2-write-delay MS  HAPI_H2_WRITE_DELAY  H2 WRITE_DELAY for a database on disk (default 0:
 *                  every commit is written to the file before it is acknowledged; H2's own
 *                  default, 500, acknowledges commits that are written up to ~0.5 s later)
 *   --h2-sync      HAPI_H2_SYNC=1  also fsync every write to the database file (see jdbcUrl)
 *   --h2-options S HAPI_H2_OPTIONS  more H2 URL settings appended as they are, e.g. ";RETENTION_TIME=0"
 *   (env only)     HAPI_H2_HOUSEKEEPING_MS  period of H2Housekeeper with WRITE_DELAY=0 (default 1000, 0: off)
 * </pre>
 */
public final class ServerSettings {

	public final int port;
	public final String host;
	public final Path dataDir;
	public final int h2WriteDelayMillis;
	public final boolean h2Sync;
	public final String h2Options;
	public final long h2HousekeepingMillis;

	private ServerSettings(
			int thePort, String theHost, Path theDataDir, int theH2WriteDelayMillis, boolean theH2Sync, String theH2Options) {
		port = thePort;
		host = theHost;
		dataDir = theDataDir;
		h2WriteDelayMillis = theH2WriteDelayMillis;
		h2Sync = theH2Sync;
		h2Options = theH2Options;
		String housekeeping = System.getenv("HAPI_H2_HOUSEKEEPING_MS");
		h2HousekeepingMillis = isBlank(housekeeping) ? 1_000 : Long.parseLong(housekeeping.trim());
	}

	public static ServerSettings parse(String[] theArgs) {
		String port = System.getenv("HAPI_PORT");
		String host = System.getenv("HAPI_HOST");
		String dataDir = System.getenv("HAPI_DATA_DIR");
		String writeDelay = System.getenv("HAPI_H2_WRITE_DELAY");
		boolean sync = "1".equals(System.getenv("HAPI_H2_SYNC")) || "true".equalsIgnoreCase(System.getenv("HAPI_H2_SYNC"));
		String options = System.getenv("HAPI_H2_OPTIONS");
		for (int i = 0; i < theArgs.length; i++) {
			String arg = theArgs[i];
			String value = null;
			int eq = arg.indexOf('=');
			if (eq > 0) {
				value = arg.substring(eq + 1);
				arg = arg.substring(0, eq);
			}
			switch (arg) {
				case "--h2-sync" -> sync = true;
				case "--port", "--host", "--data-dir", "--h2-write-delay", "--h2-options" -> {
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
					} else if (arg.equals("--h2-write-delay")) {
						writeDelay = value;
					} else if (arg.equals("--h2-options")) {
						options = value;
					} else {
						dataDir = value;
					}
				}
				case "--help", "-h" -> {
					System.out.println("Usage: java -jar hapi-server.jar [--port N] [--host ADDR] [--data-dir DIR] [--h2-write-delay MS] [--h2-sync] [--h2-options S]");
					System.exit(0);
				}
				default -> throw new IllegalArgumentException("Unknown argument: " + theArgs[i]);
			}
		}
		int portNumber = isBlank(port) ? 8080 : Integer.parseInt(port.trim());
		if (portNumber < 0 || portNumber > 65535) {
			throw new IllegalArgumentException("Port out of range: " + portNumber);
		}
		int writeDelayMillis = isBlank(writeDelay) ? 0 : Integer.parseInt(writeDelay.trim());
		if (writeDelayMillis < 0) {
			throw new IllegalArgumentException("H2 write delay must be 0 or more milliseconds: " + writeDelayMillis);
		}
		return new ServerSettings(
				portNumber,
				isBlank(host) ? "127.0.0.1" : host.trim(),
				isBlank(dataDir) ? null : Path.of(dataDir.trim()).toAbsolutePath(),
				writeDelayMillis,
				sync,
				isBlank(options) ? "" : options.trim());
	}

	/**
	 * JDBC URL of the H2 database: in memory unless a data directory was given.
	 *
	 * <p>On disk, {@code WRITE_DELAY=0} makes every committed transaction durable against a
	 * crash of the process before the commit returns (and so before HAPI answers): H2 2.x's
	 * MVStore then writes the new chunk to the file synchronously inside the commit
	 * ({@code TransactionStore.endTransaction} calls {@code MVStore.commit()} when the
	 * auto-commit delay is 0). With H2's default of 500 ms a commit only changes memory and a
	 * background thread writes it up to ~0.5-0.7 s later, so {@code kill -9} in between loses
	 * acknowledged writes. The write reaches the operating system, not necessarily the disk:
	 * MVStore does not fsync on commit, so an operating-system crash or power cut can still
	 * lose the last writes (see hapi_server/README.md).
	 *
	 * <p>{@code DB_CLOSE_ON_EXIT=FALSE}: H2 does not close the database from its own JVM
	 * shutdown hook, concurrently with requests still being served; the server's shutdown hook
	 * stops Jetty first, then closes the Spring context and with it the connection pool, and H2
	 * closes the database (cleanly, compacted) when its last connection is closed.
	 */
	public String jdbcUrl() {
		if (dataDir == null) {
			// DB_CLOSE_DELAY=-1 keeps the database for the life of the JVM, not of one connection
			return "jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1";
		}
		String path = dataDir.resolve("h2").toString().replace('\\', '/');
		return "jdbc:h2:" + (h2Sync ? SyncWriteFilePath.SCHEME + ":" : "file:") + path
				+ ";WRITE_DELAY=" + h2WriteDelayMillis
				+ ";DB_CLOSE_ON_EXIT=FALSE"
				+ (h2Options.isEmpty() || h2Options.startsWith(";") ? h2Options : ";" + h2Options);
	}

	private static boolean isBlank(String theValue) {
		return theValue == null || theValue.isBlank();
	}
}
