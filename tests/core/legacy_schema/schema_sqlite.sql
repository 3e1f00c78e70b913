CREATE TABLE vector_chunk (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	company_id VARCHAR(63) NOT NULL, 
	document_id VARCHAR, 
	chunk_index INTEGER NOT NULL, 
	text VARCHAR NOT NULL, 
	source VARCHAR, 
	metadata_json JSON NOT NULL, 
	embedding_model VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL
);
CREATE TABLE leads (
	id VARCHAR NOT NULL, 
	request_id VARCHAR NOT NULL, 
	message TEXT NOT NULL, 
	source VARCHAR, 
	name VARCHAR, 
	email VARCHAR, 
	phone VARCHAR, 
	budget FLOAT, 
	intent VARCHAR NOT NULL, 
	confidence FLOAT NOT NULL, 
	low_confidence BOOLEAN NOT NULL, 
	extraction_method VARCHAR NOT NULL, 
	field_sources JSON, 
	provider VARCHAR NOT NULL, 
	model VARCHAR NOT NULL, 
	processed_at DATETIME, 
	idempotency_key VARCHAR, 
	request_fingerprint VARCHAR, 
	PRIMARY KEY (id), 
	UNIQUE (idempotency_key)
);
CREATE TABLE company (
	id VARCHAR(63) NOT NULL, 
	name VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE tenant (
	id CHAR(32) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	subscription_tier VARCHAR(20) NOT NULL, 
	webhook_secret VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE TABLE lead_audit (
	id INTEGER NOT NULL, 
	lead_id VARCHAR, 
	request_id VARCHAR NOT NULL, 
	step VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	input JSON NOT NULL, 
	output JSON NOT NULL, 
	raw_output TEXT, 
	provider VARCHAR, 
	model VARCHAR, 
	prompt_version VARCHAR, 
	confidence FLOAT, 
	error VARCHAR, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(lead_id) REFERENCES leads (id)
);
CREATE TABLE document (
	id VARCHAR NOT NULL, 
	company_id VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	content_hash VARCHAR NOT NULL, 
	chunks INTEGER NOT NULL, 
	bytes INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (company_id, source), 
	FOREIGN KEY(company_id) REFERENCES company (id)
);
CREATE TABLE ingest_job (
	id VARCHAR NOT NULL, 
	company_id VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	upload_path VARCHAR NOT NULL, 
	bytes INTEGER NOT NULL, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	lease_until DATETIME, 
	error VARCHAR, 
	error_code VARCHAR, 
	document_id VARCHAR, 
	document_status VARCHAR, 
	chunks INTEGER, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(company_id) REFERENCES company (id)
);
CREATE TABLE chat_message (
	id INTEGER NOT NULL, 
	session_id VARCHAR(64) NOT NULL, 
	company_id VARCHAR NOT NULL, 
	role VARCHAR NOT NULL, 
	content VARCHAR NOT NULL, 
	search_query VARCHAR, 
	sources JSON NOT NULL, 
	confidence FLOAT, 
	refused BOOLEAN NOT NULL, 
	provider VARCHAR, 
	model VARCHAR, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(company_id) REFERENCES company (id)
);
CREATE TABLE user (
	id CHAR(32) NOT NULL, 
	tenant_id CHAR(32), 
	email VARCHAR(320) NOT NULL, 
	password_hash VARCHAR(200) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id)
);
CREATE TABLE crm_contact (
	name VARCHAR(200) NOT NULL, 
	email VARCHAR(320), 
	phone VARCHAR(40), 
	company VARCHAR(200), 
	message VARCHAR(10000), 
	id CHAR(32) NOT NULL, 
	tenant_id CHAR(32) NOT NULL, 
	ai_score FLOAT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id)
);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	tenant_id CHAR(32) NOT NULL, 
	user_id CHAR(32), 
	action VARCHAR(60) NOT NULL, 
	resource_type VARCHAR(40) NOT NULL, 
	resource_id VARCHAR(100), 
	details JSON NOT NULL, 
	request_id VARCHAR(128), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id)
);
CREATE TABLE lead (
	name VARCHAR(200) NOT NULL, 
	email VARCHAR(320), 
	phone VARCHAR(40), 
	company VARCHAR(200), 
	message VARCHAR(10000), 
	budget FLOAT, 
	id CHAR(32) NOT NULL, 
	tenant_id CHAR(32) NOT NULL, 
	crm_contact_id VARCHAR(100), 
	ai_score FLOAT, 
	ai_reasons JSON, 
	qualified_at DATETIME, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id)
);
CREATE TABLE usage_event (
	id INTEGER NOT NULL, 
	tenant_id CHAR(32) NOT NULL, 
	agent VARCHAR(20) NOT NULL, 
	provider VARCHAR(20) NOT NULL, 
	model VARCHAR(100) NOT NULL, 
	prompt_tokens INTEGER NOT NULL, 
	completion_tokens INTEGER NOT NULL, 
	cost_usd FLOAT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id)
);
CREATE TABLE webhook_event (
	id INTEGER NOT NULL, 
	tenant_id CHAR(32) NOT NULL, 
	event_id VARCHAR(200) NOT NULL, 
	type VARCHAR(100) NOT NULL, 
	payload JSON NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error VARCHAR(1000), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_webhook_event_delivery UNIQUE (tenant_id, event_id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id)
);
CREATE TABLE crm_sync (
	id INTEGER NOT NULL, 
	tenant_id CHAR(32) NOT NULL, 
	lead_id CHAR(32), 
	contact_id VARCHAR(100) NOT NULL, 
	direction VARCHAR(10) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tenant_id) REFERENCES tenant (id), 
	FOREIGN KEY(lead_id) REFERENCES lead (id) ON DELETE SET NULL
);
CREATE INDEX ix_vector_chunk_company_id ON vector_chunk (company_id);
CREATE INDEX ix_vector_chunk_document_id ON vector_chunk (document_id);
CREATE INDEX ix_leads_low_confidence ON leads (low_confidence);
CREATE INDEX ix_leads_email ON leads (email);
CREATE INDEX ix_leads_phone ON leads (phone);
CREATE INDEX ix_leads_request_id ON leads (request_id);
CREATE INDEX ix_leads_intent ON leads (intent);
CREATE INDEX ix_leads_processed_at ON leads (processed_at);
CREATE INDEX ix_lead_audit_request_id ON lead_audit (request_id);
CREATE INDEX ix_lead_audit_lead_id ON lead_audit (lead_id);
CREATE INDEX ix_document_company_id ON document (company_id);
CREATE INDEX ix_ingest_job_status ON ingest_job (status);
CREATE INDEX ix_ingest_job_company_id ON ingest_job (company_id);
CREATE INDEX ix_chat_message_company_id ON chat_message (company_id);
CREATE INDEX ix_chat_message_created_at ON chat_message (created_at);
CREATE INDEX ix_chat_message_session_id ON chat_message (session_id);
CREATE INDEX ix_user_tenant_id ON user (tenant_id);
CREATE UNIQUE INDEX ix_user_email ON user (email);
CREATE INDEX ix_crm_contact_tenant_id ON crm_contact (tenant_id);
CREATE INDEX ix_audit_log_tenant_id ON audit_log (tenant_id);
CREATE INDEX ix_audit_log_created_at ON audit_log (created_at);
CREATE INDEX ix_audit_log_action ON audit_log (action);
CREATE INDEX ix_audit_log_user_id ON audit_log (user_id);
CREATE INDEX ix_lead_tenant_id ON lead (tenant_id);
CREATE INDEX ix_lead_crm_contact_id ON lead (crm_contact_id);
CREATE INDEX ix_lead_email ON lead (email);
CREATE INDEX ix_usage_event_tenant_id ON usage_event (tenant_id);
CREATE INDEX ix_usage_event_created_at ON usage_event (created_at);
CREATE INDEX ix_webhook_event_tenant_id ON webhook_event (tenant_id);
CREATE INDEX ix_webhook_event_status ON webhook_event (status);
CREATE INDEX ix_webhook_event_next_attempt_at ON webhook_event (next_attempt_at);
CREATE INDEX ix_crm_sync_lead_id ON crm_sync (lead_id);
CREATE INDEX ix_crm_sync_contact_id ON crm_sync (contact_id);
CREATE INDEX ix_crm_sync_tenant_id ON crm_sync (tenant_id);
