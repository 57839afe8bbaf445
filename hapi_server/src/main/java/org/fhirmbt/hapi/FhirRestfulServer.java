package org.fhirmbt.hapi;

import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.model.sched.ISchedulerService;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.ETagSupportEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.context.ApplicationContext;

/** The FHIR REST endpoint, served at /fhir, backed by the JPA DAOs of the Spring context. */
public class FhirRestfulServer extends RestfulServer {

	private static final long serialVersionUID = 1L;

	private final transient ApplicationContext myAppCtx;

	public FhirRestfulServer(ApplicationContext theAppCtx) {
		super(theAppCtx.getBean(FhirContext.class));
		myAppCtx = theAppCtx;
	}

	@Override
	protected void initialize() {
		// Hooks registered with the JPA layer and with the REST layer share one registry
		setInterceptorService(myAppCtx.getBean(IInterceptorService.class));

		registerProviders(myAppCtx.getBean("myResourceProvidersR4", ResourceProviderFactory.class)
				.createProviders());
		registerProvider(myAppCtx.getBean("mySystemProviderR4", JpaSystemProvider.class));
		registerProvider(myAppCtx.getBean(ValueSetOperationProvider.class));

		// FHIR Bulk Data $export (system, Patient, Group) for the outcomes report; files are kept as Binary.
		// An export's steps advance on the batch maintenance pass: every 2 s here instead of every minute,
		// and at once when a step finishes (fast tracking), so a small export is ready in seconds.
		registerProvider(myAppCtx.getBean(BulkDataExportProvider.class));
		JpaStorageSettings storage = myAppCtx.getBean(JpaStorageSettings.class);
		storage.setEnableTaskBulkExportJobExecution(true);
		storage.setJobFastTrackingEnabled(true);
		JobMaintenanceServiceImpl maintenance = myAppCtx.getBean(JobMaintenanceServiceImpl.class);
		maintenance.setScheduledJobFrequencyMillis(2000);
		maintenance.scheduleJobs(myAppCtx.getBean(ISchedulerService.class));

		IFhirSystemDao<?, ?> systemDao = myAppCtx.getBean("mySystemDaoR4", IFhirSystemDao.class);
		JpaCapabilityStatementProvider capabilityStatement = new JpaCapabilityStatementProvider(
				this,
				systemDao,
				myAppCtx.getBean(JpaStorageSettings.class),
				myAppCtx.getBean(ISearchParamRegistry.class),
				myAppCtx.getBean(IValidationSupport.class));
		capabilityStatement.setImplementationDescription("fhir-mbt HAPI FHIR JPA server (R4, H2)");
		setServerConformanceProvider(capabilityStatement);

		DatabaseBackedPagingProvider pagingProvider = myAppCtx.getBean(DatabaseBackedPagingProvider.class);
		pagingProvider.setDefaultPageSize(20);
		// A year of weekly records (sessions, check-ins) fits one page of the dashboard's search
		pagingProvider.setMaximumPageSize(1000);
		setPagingProvider(pagingProvider);

		setDefaultResponseEncoding(EncodingEnum.JSON);
		setDefaultPrettyPrint(false);
		setETagSupport(ETagSupportEnum.ENABLED);
	}
}
