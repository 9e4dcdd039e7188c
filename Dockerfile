# One image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_DEBUG=False

WORKDIR /app
RUN useradd --create-home --uid 1000 crm

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Static files and translations are built into the image; a throwaway key is enough for that.
RUN DJANGO_SECRET_KEY=build-only python manage.py compile_translations \
 && DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput \
 && mkdir -p var/imports && chown -R crm /app

USER crm
EXPOSE 8000
CMD ["gunicorn", "crm.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
