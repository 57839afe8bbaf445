package org.fhirmbt.hapi;

import org.h2.engine.SessionLocal;
import org.h2.jdbc.JdbcConnection;
import org.h2.mvstore.MVStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;

/**
 * Keeps the H2 file from growing without bound when {@code WRITE_DELAY=0}.
 *
 * <p>With a write delay of 0, H2 2.x's MVStore writes one chunk per commit (which is what
 * makes a commit durable) and stops its background writer thread, which is also the thread
 * that does its housekeeping: re-writing the live pages of sparsely used chunks so that the
 * old chunks can be freed and their space reused. Without it the file grows by roughly the
 * size of every commit's chunk (≈100 kB per HAPI write). This task does that housekeeping
 * instead, every second, with MVStore's public {@code compact(targetFillRate, write)}.
 *
 * <p>It reaches the MVStore through H2's engine classes (JdbcConnection → SessionLocal →
 * Database → Store), which are not a stable API. If that ever fails, it logs a warning once
 * and stops: the database then only grows faster; no commit depends on this task.
 */
public final class H2Housekeeper implements AutoCloseable {

	private static final Logger ourLog = LoggerFactory.getLogger(H2Housekeeper.class);

	/** Rewrite when the live share of the chunks falls below this percentage. */
	static final int TARGET_FILL_RATE = 80;
	/** At most this much live data is rewritten per run. */
	static final int WRITE_LIMIT_BYTES = 4 * 1024 * 1024;

	private final DataSource myDataSource;
	private final ScheduledExecutorService myExecutor;
	private volatile MVStore myStore;
	private volatile boolean myFailed;

	private H2Housekeeper(DataSource theDataSource, long thePeriodMillis) {
		myDataSource = theDataSource;
		if (thePeriodMillis <= 0) {
			myExecutor = null;
			return;
		}
		myExecutor = Executors.newSingleThreadScheduledExecutor(r -> {
			Thread t = new Thread(r, "h2-housekeeping");
			t.setDaemon(true);
			return t;
		});
		myExecutor.scheduleWithFixedDelay(this::runOnce, thePeriodMillis, thePeriodMillis, TimeUnit.MILLISECONDS);
	}

	/** Housekeeping every {@code thePeriodMillis} ms on the database behind {@code theDataSource}. */
	public static H2Housekeeper every(DataSource theDataSource, long thePeriodMillis) {
		return new H2Housekeeper(theDataSource, thePeriodMillis);
	}

	/** Does nothing (in-memory database, or H2's own background writer is running). */
	public static H2Housekeeper disabled() {
		return new H2Housekeeper(null, 0);
	}

	/** One round: returns true when chunks were rewritten. */
	boolean runOnce() {
		if (myFailed || myDataSource == null) {
			return false;
		}
		try {
			MVStore store = store();
			if (store == null || store.isClosed()) {
				return false;
			}
			boolean rewritten = store.compact(TARGET_FILL_RATE, WRITE_LIMIT_BYTES);
			if (rewritten) {
				store.commit();
			}
			return rewritten;
		} catch (RuntimeException | Error | java.sql.SQLException e) {
			MVStore store = myStore;
			if (store != null && store.isClosed()) {
				return false; // shutting down
			}
			myFailed = true;
			ourLog.warn("H2 housekeeping stopped (the database file may grow faster): {}", e.toString());
			return false;
		}
	}

	private MVStore store() throws java.sql.SQLException {
		MVStore store = myStore;
		if (store == null) {
			try (Connection connection = myDataSource.getConnection()) {
				JdbcConnection h2 = connection.unwrap(JdbcConnection.class);
				store = ((SessionLocal) h2.getSession()).getDatabase().getStore().getMvStore();
			}
			myStore = store;
		}
		return store;
	}

	@Override
	public void close() {
		if (myExecutor != null) {
			myExecutor.shutdownNow();
			try {
				myExecutor.awaitTermination(10, TimeUnit.SECONDS);
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
	}
}
