package org.fhirmbt.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.config.HapiFhirLocalContainerEntityManagerFactoryBean;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.term.TermReadSvcImpl;
import jakarta.persistence.EntityManagerFactory;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.orm.jpa.JpaTransactionManager;

import java.util.Properties;
import javax.sql.DataSource;

/**
 * The JPA server: HAPI's R4 JPA configuration plus the few beans HAPI expects the
 * application to provide (settings, data source, entity manager factory, transactions).
 */
@Configuration
// Batch2 runs HAPI's background jobs (reindex after a SearchParameter change, CodeSystem storage, $expunge);
// its work queues are in-memory channels (SubscriptionChannelConfig).
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	SubscriptionChannelConfig.class,
	ThreadPoolFactoryConfig.class
})
public class FhirServerConfig {

	static {
		// Hibernate Search is off (hibernate.search.enabled=false), but the terminology service decides
		// whether to use it only from whether its full-text bean exists, which HapiJpaConfig always
		// creates: ValueSet/$expand then failed with 500 "Hibernate Search was not initialized".
		// This public switch makes it expand from the database tables instead.
		TermReadSvcImpl.setForceDisableHibernateSearchForUnitTest(true);
	}

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings retVal = new JpaStorageSettings();
		// Every search runs afresh: no reuse of cached results (the default reuses them for 60 s)
		retVal.setReuseCachedSearchResultsForMillis(null);
		// Client-assigned ids may be any non-numeric string (PUT Patient/abc); server ids are numeric
		retVal.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC);
		retVal.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.SEQUENTIAL_NUMERIC);
		// Absolute references to other servers are kept as they are. Local references are not
		// required to resolve on write: the ImplementationGuide lists its example Bundle, which is
		// loaded as a transaction (its entries are stored), never as a Bundle resource of its own.
		retVal.setAllowExternalReferences(true);
		retVal.setEnforceReferentialIntegrityOnWrite(false);
		retVal.setAutoCreatePlaceholderReferenceTargets(false);
		// One conditional delete removes at most one resource
		retVal.setAllowMultipleDelete(false);
		// $expunge lets tests and the demo start from a clean slate without a restart
		retVal.setExpungeEnabled(true);
		// Profiles, ValueSets and CodeSystems loaded into the server are used by $validate
		retVal.setAllowDatabaseValidationOverride(true);
		// A CodeSystem's concepts are indexed as part of its write, not later by a background job,
		// so $validate and $expand see a just-uploaded CodeSystem at once (the default defers
		// CodeSystems of more than 100 concepts)
		retVal.setDeferIndexingForCodesystemsOfSize(100_000);
		// Full-text / Hibernate Search is off
		retVal.setHibernateSearchIndexFullText(false);
		retVal.setHibernateSearchIndexSearchParams(false);
		return retVal;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource(ServerSettings theSettings) {
		if (theSettings.h2Sync) {
			SyncWriteFilePath.register();
		}
		BasicDataSource retVal = new BasicDataSource();
		retVal.setDriverClassName("org.h2.Driver");
		retVal.setUrl(theSettings.jdbcUrl());
		retVal.setUsername("sa");
		retVal.setPassword("");
		retVal.setMaxTotal(20);
		return retVal;
	}

	/**
	 * With WRITE_DELAY=0 (durable commits) H2 runs no background writer, and so none of its
	 * housekeeping: this does it instead (see H2Housekeeper).
	 */
	@Bean(destroyMethod = "close")
	public H2Housekeeper h2Housekeeper(ServerSettings theSettings, DataSource theDataSource) {
		if (theSettings.dataDir == null || theSettings.h2WriteDelayMillis > 0) {
			return H2Housekeeper.disabled();
		}
		return H2Housekeeper.every(theDataSource, theSettings.h2HousekeepingMillis);
	}

	@Bean
	public HapiFhirLocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory theBeanFactory,
			FhirContext theFhirContext,
			JpaStorageSettings theStorageSettings,
			DataSource theDataSource) {
		HapiFhirLocalContainerEntityManagerFactoryBean retVal = (HapiFhirLocalContainerEntityManagerFactoryBean)
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(theBeanFactory, theFhirContext, theStorageSettings);
		retVal.setPersistenceUnitName("HAPI_PU");
		retVal.setDataSource(theDataSource);
		retVal.setJpaProperties(jpaProperties());
		return retVal;
	}

	private static Properties jpaProperties() {
		Properties retVal = new Properties();
		retVal.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		retVal.put("hibernate.hbm2ddl.auto", "update");
		retVal.put("hibernate.format_sql", "false");
		retVal.put("hibernate.show_sql", "false");
		retVal.put("hibernate.jdbc.batch_size", "20");
		retVal.put("hibernate.cache.use_query_cache", "false");
		retVal.put("hibernate.cache.use_second_level_cache", "false");
		retVal.put("hibernate.cache.use_structured_entries", "false");
		retVal.put("hibernate.cache.use_minimal_puts", "false");
		// No Hibernate Search (no Lucene / Elasticsearch index)
		retVal.put("hibernate.search.enabled", "false");
		return retVal;
	}

	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory theEntityManagerFactory) {
		return new JpaTransactionManager(theEntityManagerFactory);
	}
}
