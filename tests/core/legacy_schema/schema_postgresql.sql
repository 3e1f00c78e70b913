SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;


CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;



COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';


SET default_tablespace = '';

SET default_table_access_method = heap;


CREATE TABLE public.audit_log (
    id integer NOT NULL,
    tenant_id uuid NOT NULL,
    user_id uuid,
    action character varying(60) NOT NULL,
    resource_type character varying(40) NOT NULL,
    resource_id character varying(100),
    details json NOT NULL,
    request_id character varying(128),
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.audit_log FORCE ROW LEVEL SECURITY;



CREATE SEQUENCE public.audit_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;



CREATE TABLE public.chat_message (
    id integer NOT NULL,
    session_id character varying(64) NOT NULL,
    company_id character varying NOT NULL,
    role character varying NOT NULL,
    content character varying NOT NULL,
    search_query character varying,
    sources json NOT NULL,
    confidence double precision,
    refused boolean NOT NULL,
    provider character varying,
    model character varying,
    created_at timestamp with time zone NOT NULL
);



CREATE SEQUENCE public.chat_message_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.chat_message_id_seq OWNED BY public.chat_message.id;



CREATE TABLE public.company (
    id character varying(63) NOT NULL,
    name character varying NOT NULL,
    created_at timestamp with time zone NOT NULL
);



CREATE TABLE public.crm_contact (
    name character varying(200) NOT NULL,
    email character varying(320),
    phone character varying(40),
    company character varying(200),
    message character varying(10000),
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    ai_score double precision,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.crm_contact FORCE ROW LEVEL SECURITY;



CREATE TABLE public.crm_sync (
    id integer NOT NULL,
    tenant_id uuid NOT NULL,
    lead_id uuid,
    contact_id character varying(100) NOT NULL,
    direction character varying(10) NOT NULL,
    status character varying(20) NOT NULL,
    payload json NOT NULL,
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.crm_sync FORCE ROW LEVEL SECURITY;



CREATE SEQUENCE public.crm_sync_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.crm_sync_id_seq OWNED BY public.crm_sync.id;



CREATE TABLE public.document (
    id character varying NOT NULL,
    company_id character varying NOT NULL,
    source character varying NOT NULL,
    content_hash character varying NOT NULL,
    chunks integer NOT NULL,
    bytes integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);



CREATE TABLE public.ingest_job (
    id character varying NOT NULL,
    company_id character varying NOT NULL,
    source character varying NOT NULL,
    upload_path character varying NOT NULL,
    bytes integer NOT NULL,
    status character varying NOT NULL,
    attempts integer NOT NULL,
    lease_until timestamp with time zone,
    error character varying,
    error_code character varying,
    document_id character varying,
    document_status character varying,
    chunks integer,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);



CREATE TABLE public.lead (
    name character varying(200) NOT NULL,
    email character varying(320),
    phone character varying(40),
    company character varying(200),
    message character varying(10000),
    budget double precision,
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    crm_contact_id character varying(100),
    ai_score double precision,
    ai_reasons json,
    qualified_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.lead FORCE ROW LEVEL SECURITY;



CREATE TABLE public.lead_audit (
    id integer NOT NULL,
    lead_id character varying,
    request_id character varying NOT NULL,
    step character varying NOT NULL,
    status character varying NOT NULL,
    input json NOT NULL,
    output json NOT NULL,
    raw_output text,
    provider character varying,
    model character varying,
    prompt_version character varying,
    confidence double precision,
    error character varying,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    duration_ms double precision NOT NULL
);



CREATE SEQUENCE public.lead_audit_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.lead_audit_id_seq OWNED BY public.lead_audit.id;



CREATE TABLE public.leads (
    id character varying NOT NULL,
    request_id character varying NOT NULL,
    message text NOT NULL,
    source character varying,
    name character varying,
    email character varying,
    phone character varying,
    budget double precision,
    intent character varying NOT NULL,
    confidence double precision NOT NULL,
    low_confidence boolean NOT NULL,
    extraction_method character varying NOT NULL,
    field_sources json,
    provider character varying NOT NULL,
    model character varying NOT NULL,
    processed_at timestamp with time zone,
    idempotency_key character varying,
    request_fingerprint character varying
);



CREATE TABLE public.pgvector_chunk (
    id bigint NOT NULL,
    company_id character varying(63) NOT NULL,
    document_id text,
    chunk_index integer NOT NULL,
    source text,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    embedding_model text NOT NULL,
    embedding public.vector NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE ONLY public.pgvector_chunk ALTER COLUMN embedding SET STORAGE MAIN;



CREATE SEQUENCE public.pgvector_chunk_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.pgvector_chunk_id_seq OWNED BY public.pgvector_chunk.id;



CREATE TABLE public.pgvector_company (
    company_id character varying(63) NOT NULL,
    embedding_model text NOT NULL,
    embedding_provider text NOT NULL,
    dimension integer NOT NULL,
    chunk_count bigint DEFAULT '0'::bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);



CREATE TABLE public.tenant (
    id uuid NOT NULL,
    name character varying(200) NOT NULL,
    subscription_tier character varying(20) NOT NULL,
    webhook_secret character varying(100) NOT NULL,
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.tenant FORCE ROW LEVEL SECURITY;



CREATE TABLE public.usage_event (
    id integer NOT NULL,
    tenant_id uuid NOT NULL,
    agent character varying(20) NOT NULL,
    provider character varying(20) NOT NULL,
    model character varying(100) NOT NULL,
    prompt_tokens integer NOT NULL,
    completion_tokens integer NOT NULL,
    cost_usd double precision NOT NULL,
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.usage_event FORCE ROW LEVEL SECURITY;



CREATE SEQUENCE public.usage_event_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.usage_event_id_seq OWNED BY public.usage_event.id;



CREATE TABLE public."user" (
    id uuid NOT NULL,
    tenant_id uuid,
    email character varying(320) NOT NULL,
    password_hash character varying(200) NOT NULL,
    role character varying(20) NOT NULL,
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public."user" FORCE ROW LEVEL SECURITY;



CREATE TABLE public.vector_chunk (
    id integer NOT NULL,
    company_id character varying(63) NOT NULL,
    document_id character varying,
    chunk_index integer NOT NULL,
    text character varying NOT NULL,
    source character varying,
    metadata_json json NOT NULL,
    embedding_model character varying NOT NULL,
    created_at timestamp with time zone NOT NULL
);



CREATE SEQUENCE public.vector_chunk_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.vector_chunk_id_seq OWNED BY public.vector_chunk.id;



CREATE TABLE public.webhook_event (
    id integer NOT NULL,
    tenant_id uuid NOT NULL,
    event_id character varying(200) NOT NULL,
    type character varying(100) NOT NULL,
    payload json NOT NULL,
    status character varying(20) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    last_error character varying(1000),
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.webhook_event FORCE ROW LEVEL SECURITY;



CREATE SEQUENCE public.webhook_event_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.webhook_event_id_seq OWNED BY public.webhook_event.id;



ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);



ALTER TABLE ONLY public.chat_message ALTER COLUMN id SET DEFAULT nextval('public.chat_message_id_seq'::regclass);



ALTER TABLE ONLY public.crm_sync ALTER COLUMN id SET DEFAULT nextval('public.crm_sync_id_seq'::regclass);



ALTER TABLE ONLY public.lead_audit ALTER COLUMN id SET DEFAULT nextval('public.lead_audit_id_seq'::regclass);



ALTER TABLE ONLY public.pgvector_chunk ALTER COLUMN id SET DEFAULT nextval('public.pgvector_chunk_id_seq'::regclass);



ALTER TABLE ONLY public.usage_event ALTER COLUMN id SET DEFAULT nextval('public.usage_event_id_seq'::regclass);



ALTER TABLE ONLY public.vector_chunk ALTER COLUMN id SET DEFAULT nextval('public.vector_chunk_id_seq'::regclass);



ALTER TABLE ONLY public.webhook_event ALTER COLUMN id SET DEFAULT nextval('public.webhook_event_id_seq'::regclass);



ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.chat_message
    ADD CONSTRAINT chat_message_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.crm_contact
    ADD CONSTRAINT crm_contact_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.crm_sync
    ADD CONSTRAINT crm_sync_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.document
    ADD CONSTRAINT document_company_id_source_key UNIQUE (company_id, source);



ALTER TABLE ONLY public.document
    ADD CONSTRAINT document_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.ingest_job
    ADD CONSTRAINT ingest_job_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.lead_audit
    ADD CONSTRAINT lead_audit_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.lead
    ADD CONSTRAINT lead_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.leads
    ADD CONSTRAINT leads_idempotency_key_key UNIQUE (idempotency_key);



ALTER TABLE ONLY public.leads
    ADD CONSTRAINT leads_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.pgvector_chunk
    ADD CONSTRAINT pgvector_chunk_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.pgvector_company
    ADD CONSTRAINT pgvector_company_pkey PRIMARY KEY (company_id);



ALTER TABLE ONLY public.tenant
    ADD CONSTRAINT tenant_name_key UNIQUE (name);



ALTER TABLE ONLY public.tenant
    ADD CONSTRAINT tenant_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT uq_webhook_event_delivery UNIQUE (tenant_id, event_id);



ALTER TABLE ONLY public.usage_event
    ADD CONSTRAINT usage_event_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.vector_chunk
    ADD CONSTRAINT vector_chunk_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT webhook_event_pkey PRIMARY KEY (id);



CREATE INDEX ix_audit_log_action ON public.audit_log USING btree (action);



CREATE INDEX ix_audit_log_created_at ON public.audit_log USING btree (created_at);



CREATE INDEX ix_audit_log_tenant_id ON public.audit_log USING btree (tenant_id);



CREATE INDEX ix_audit_log_user_id ON public.audit_log USING btree (user_id);



CREATE INDEX ix_chat_message_company_id ON public.chat_message USING btree (company_id);



CREATE INDEX ix_chat_message_created_at ON public.chat_message USING btree (created_at);



CREATE INDEX ix_chat_message_session_id ON public.chat_message USING btree (session_id);



CREATE INDEX ix_crm_contact_tenant_id ON public.crm_contact USING btree (tenant_id);



CREATE INDEX ix_crm_sync_contact_id ON public.crm_sync USING btree (contact_id);



CREATE INDEX ix_crm_sync_lead_id ON public.crm_sync USING btree (lead_id);



CREATE INDEX ix_crm_sync_tenant_id ON public.crm_sync USING btree (tenant_id);



CREATE INDEX ix_document_company_id ON public.document USING btree (company_id);



CREATE INDEX ix_ingest_job_company_id ON public.ingest_job USING btree (company_id);



CREATE INDEX ix_ingest_job_status ON public.ingest_job USING btree (status);



CREATE INDEX ix_lead_audit_lead_id ON public.lead_audit USING btree (lead_id);



CREATE INDEX ix_lead_audit_request_id ON public.lead_audit USING btree (request_id);



CREATE INDEX ix_lead_crm_contact_id ON public.lead USING btree (crm_contact_id);



CREATE INDEX ix_lead_email ON public.lead USING btree (email);



CREATE INDEX ix_lead_tenant_id ON public.lead USING btree (tenant_id);



CREATE INDEX ix_leads_email ON public.leads USING btree (email);



CREATE INDEX ix_leads_intent ON public.leads USING btree (intent);



CREATE INDEX ix_leads_low_confidence ON public.leads USING btree (low_confidence);



CREATE INDEX ix_leads_phone ON public.leads USING btree (phone);



CREATE INDEX ix_leads_processed_at ON public.leads USING btree (processed_at);



CREATE INDEX ix_leads_request_id ON public.leads USING btree (request_id);



CREATE INDEX ix_usage_event_created_at ON public.usage_event USING btree (created_at);



CREATE INDEX ix_usage_event_tenant_id ON public.usage_event USING btree (tenant_id);



CREATE UNIQUE INDEX ix_user_email ON public."user" USING btree (email);



CREATE INDEX ix_user_tenant_id ON public."user" USING btree (tenant_id);



CREATE INDEX ix_vector_chunk_company_id ON public.vector_chunk USING btree (company_id);



CREATE INDEX ix_vector_chunk_document_id ON public.vector_chunk USING btree (document_id);



CREATE INDEX ix_webhook_event_next_attempt_at ON public.webhook_event USING btree (next_attempt_at);



CREATE INDEX ix_webhook_event_status ON public.webhook_event USING btree (status);



CREATE INDEX ix_webhook_event_tenant_id ON public.webhook_event USING btree (tenant_id);



CREATE INDEX pgvector_chunk_company_document ON public.pgvector_chunk USING btree (company_id, document_id);



CREATE INDEX pgvector_chunk_hnsw_384 ON public.pgvector_chunk USING hnsw (((embedding)::public.vector(384)) public.vector_cosine_ops) WITH (m='16', ef_construction='64') WHERE (public.vector_dims(embedding) = 384);



ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE ONLY public.chat_message
    ADD CONSTRAINT chat_message_company_id_fkey FOREIGN KEY (company_id) REFERENCES public.company(id);



ALTER TABLE ONLY public.crm_contact
    ADD CONSTRAINT crm_contact_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE ONLY public.crm_sync
    ADD CONSTRAINT crm_sync_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES public.lead(id) ON DELETE SET NULL;



ALTER TABLE ONLY public.crm_sync
    ADD CONSTRAINT crm_sync_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE ONLY public.document
    ADD CONSTRAINT document_company_id_fkey FOREIGN KEY (company_id) REFERENCES public.company(id);



ALTER TABLE ONLY public.ingest_job
    ADD CONSTRAINT ingest_job_company_id_fkey FOREIGN KEY (company_id) REFERENCES public.company(id);



ALTER TABLE ONLY public.lead_audit
    ADD CONSTRAINT lead_audit_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES public.leads(id);



ALTER TABLE ONLY public.lead
    ADD CONSTRAINT lead_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE ONLY public.usage_event
    ADD CONSTRAINT usage_event_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT webhook_event_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenant(id);



ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;


ALTER TABLE public.crm_contact ENABLE ROW LEVEL SECURITY;


ALTER TABLE public.crm_sync ENABLE ROW LEVEL SECURITY;


ALTER TABLE public.lead ENABLE ROW LEVEL SECURITY;


ALTER TABLE public.tenant ENABLE ROW LEVEL SECURITY;


CREATE POLICY tenant_isolation ON public.audit_log USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public.crm_contact USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public.crm_sync USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public.lead USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public.tenant USING ((id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public.usage_event USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public."user" USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



CREATE POLICY tenant_isolation ON public.webhook_event USING ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)) WITH CHECK ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid));



ALTER TABLE public.usage_event ENABLE ROW LEVEL SECURITY;


ALTER TABLE public."user" ENABLE ROW LEVEL SECURITY;


ALTER TABLE public.webhook_event ENABLE ROW LEVEL SECURITY;
