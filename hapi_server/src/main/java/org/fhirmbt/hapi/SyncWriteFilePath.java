package org.fhirmbt.hapi;

import org.h2.store.fs.FileBase;
import org.h2.store.fs.FilePath;
import org.h2.store.fs.FilePathWrapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;

/**
 * An H2 file system ({@code jdbc:h2:syncwrite:/path/db}) that forces every write to the
 * storage device before it returns ({@code FileChannel.force(false)}, fdatasync on Linux).
 *
 * <p>H2 2.x's MVStore never syncs on commit: with {@code WRITE_DELAY=0} a commit is in the
 * operating system's page cache when it returns, which survives a crash of the process but
 * not of the operating system or the power. Through this file system each chunk that a commit
 * writes is on the device before the commit returns. It is opt-in ({@code --h2-sync}),
 * because every commit then waits for the device.
 */
public final class SyncWriteFilePath extends FilePathWrapper {

	public static final String SCHEME = "syncwrite";

	private static final SyncWriteFilePath INSTANCE = new SyncWriteFilePath();
	private static volatile boolean ourRegistered;

	/** Make the scheme known to H2 (idempotent); call before opening the database. */
	public static void register() {
		if (!ourRegistered) {
			synchronized (SyncWriteFilePath.class) {
				if (!ourRegistered) {
					FilePath.register(INSTANCE);
					ourRegistered = true;
				}
			}
		}
	}

	@Override
	public String getScheme() {
		return SCHEME;
	}

	@Override
	public FileChannel open(String theMode) throws IOException {
		FileChannel channel = super.open(theMode);
		return theMode.contains("w") ? new SyncWriteChannel(channel) : channel;
	}

	/** Delegates to the real channel; each write is followed by a force. */
	private static final class SyncWriteChannel extends FileBase {

		private final FileChannel myChannel;

		SyncWriteChannel(FileChannel theChannel) {
			myChannel = theChannel;
		}

		@Override
		protected void implCloseChannel() throws IOException {
			myChannel.close();
		}

		@Override
		public long position() throws IOException {
			return myChannel.position();
		}

		@Override
		public FileChannel position(long theNewPosition) throws IOException {
			myChannel.position(theNewPosition);
			return this;
		}

		@Override
		public long size() throws IOException {
			return myChannel.size();
		}

		@Override
		public int read(ByteBuffer theDst) throws IOException {
			return myChannel.read(theDst);
		}

		@Override
		public int read(ByteBuffer theDst, long thePosition) throws IOException {
			return myChannel.read(theDst, thePosition);
		}

		@Override
		public int write(ByteBuffer theSrc) throws IOException {
			int written = myChannel.write(theSrc);
			myChannel.force(false);
			return written;
		}

		@Override
		public int write(ByteBuffer theSrc, long thePosition) throws IOException {
			int written = myChannel.write(theSrc, thePosition);
			myChannel.force(false);
			return written;
		}

		@Override
		public FileChannel truncate(long theSize) throws IOException {
			myChannel.truncate(theSize);
			myChannel.force(true);
			return this;
		}

		@Override
		public void force(boolean theMetaData) throws IOException {
			myChannel.force(theMetaData);
		}

		@Override
		public FileLock tryLock(long thePosition, long theSize, boolean theShared) throws IOException {
			return myChannel.tryLock(thePosition, theSize, theShared);
		}

		@Override
		public String toString() {
			return SCHEME + ":" + myChannel;
		}
	}
}
