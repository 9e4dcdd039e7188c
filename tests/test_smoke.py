def test_login_page_renders(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/contacts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
